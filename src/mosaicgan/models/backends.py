"""Inference backends for a generator, chosen by measurement (:mod:`mosaicgan.fastpath`'s rule).

A backend is a callable: ``(B, C, H, W)`` float32 network input in [-1, 1] -> ``(B, 3,
H, W)`` float32 output in [-1, 1]. The candidates: torch (fp32, bf16 where native, fp16
on CUDA; contiguous or channels_last), ONNX Runtime (CPU) and OpenVINO (CPU; optional,
``pip install mosaicgan[openvino]``), the last two running the generator's ONNX graph
(:func:`onnx_model`). The choice is made on the first call, on its input (one sample),
and cached per machine, model and input size; every candidate must give the torch fp32
output to within :data:`OUTPUT_TOLERANCE`. ``MOSAICGAN_BACKEND=torch|onnxruntime|openvino``
overrides the choice (torch then measures only its own precisions and formats).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import math
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..detect.runtime import OnnxRuntimeNetwork, OpenVinoNetwork
from ..fastpath import Decision, FastPath, cache_path, candidates, choose

BACKENDS = ("torch", "onnxruntime", "openvino")
BACKEND_ENV = "MOSAICGAN_BACKEND"
# Largest difference from torch fp32 allowed, on the output's [-1, 1] scale: one 8-bit
# level of the image (2/255), so a pixel written as uint8 moves by at most one level.
OUTPUT_TOLERANCE = 2 / 255
ONNX_OPSET = 17


def output_gap(result: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest absolute difference (inf when not finite)."""
    if not torch.isfinite(result).all():
        return float("inf")
    return float((result.float() - reference.float()).abs().max())


def available(device: torch.device) -> tuple[str, ...]:
    """The backends installed that run on ``device`` (the ONNX ones: CPU only)."""
    out = ["torch"]
    if device.type == "cpu":
        for name, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
            with contextlib.suppress(ImportError):
                __import__(module)
                out.append(name)
    return tuple(out)


def onnx_model(generator: torch.nn.Module, in_channels: int) -> bytes:
    """The generator as an ONNX graph (opset 17): input ``input`` ``(B, in_channels, H,
    W)``, output ``output`` ``(B, 3, H, W)``, batch and spatial sizes dynamic (each a
    multiple of the network's ``multiple``)."""
    multiple = getattr(generator, "multiple", 1)
    side = multiple * -(-64 // multiple)  # traced at >= 64 px: norms need more than 1x1
    example = torch.zeros(1, in_channels, side, side)
    dynamic = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's notes on instance norm
        torch.onnx.export(generator.float().eval().cpu(), (example,), buffer, dynamo=False,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": dynamic, "output": dynamic},
                          opset_version=ONNX_OPSET)
    return buffer.getvalue()


def weights_digest(module: torch.nn.Module) -> str:
    """A digest of the network's structure and every weight: keys the cached ONNX file."""
    h = hashlib.sha256(repr(module).encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


# ONNX files kept in the cache folder, the most recently used: each set of weights (each
# point of a sharpness dial) has its own, and they would otherwise pile up (14-27 MB each).
MAX_CACHED_ONNX = 6


def cached_onnx(generator: torch.nn.Module, in_channels: int, digest: str) -> Path:
    """The generator's ONNX file in the cache folder, exported once per set of weights
    (``digest``: :func:`weights_digest`); the least recently used beyond
    :data:`MAX_CACHED_ONNX` are removed."""
    path = cache_path().parent / "onnx" / f"{digest}-{in_channels}.onnx"
    if path.is_file():
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: kept the longest
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(onnx_model(generator, in_channels))
    os.replace(tmp, path)
    prune_onnx_cache(path.parent, keep=path)
    return path


def prune_onnx_cache(folder: Path, keep: Path, limit: int = MAX_CACHED_ONNX) -> list[Path]:
    """Remove the least recently used ONNX files of ``folder`` beyond ``limit`` (never
    ``keep``, the one just written); returns those removed. A file another process has
    open is removed from the folder only: that process keeps reading it."""
    def used(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    files = sorted((p for p in folder.glob("*.onnx") if p != keep), key=used, reverse=True)
    removed = []
    for old in files[max(0, limit - 1):]:
        with contextlib.suppress(OSError):
            old.unlink()
            removed.append(old)
    return removed


class TorchBackend:
    """The module itself, under autocast and in the path's memory format."""

    def __init__(self, module: torch.nn.Module, path: FastPath, device: torch.device):
        self.module = module.to(device, memory_format=path.memory_format).eval()
        self.path, self.device = path, device

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device).contiguous(memory_format=self.path.memory_format)
        dtype = self.path.dtype
        ctx = torch.autocast(self.device.type, dtype=dtype) if dtype else contextlib.nullcontext()
        with ctx:
            return self.module(x).float()


class OnnxRuntimeBackend:
    """ONNX Runtime's CPU provider (:class:`~mosaicgan.detect.runtime.OnnxRuntimeNetwork`),
    with torch's thread count."""

    def __init__(self, model: Path):
        self.network = OnnxRuntimeNetwork(str(model), threads=torch.get_num_threads())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.network.run(x.detach().float().cpu().numpy())[0])


class OpenVinoBackend:
    """OpenVINO on the CPU in f32 (:class:`~mosaicgan.detect.runtime.OpenVinoNetwork`),
    with torch's thread count."""

    def __init__(self, model: Path):
        self.network = OpenVinoNetwork(str(model), "fp32", threads=torch.get_num_threads())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.network.run(x.detach().float().cpu().numpy())[0])


def build(module: torch.nn.Module, path: FastPath, device: torch.device, in_channels: int,
          digest: str) -> Callable[[torch.Tensor], torch.Tensor]:
    if path.backend == "torch":
        return TorchBackend(module, path, device)
    model = cached_onnx(module, in_channels, digest)
    return OnnxRuntimeBackend(model) if path.backend == "onnxruntime" else OpenVinoBackend(model)


def backend_override() -> str | None:
    """The backend named by ``MOSAICGAN_BACKEND``, if any (an unknown name: ValueError)."""
    name = os.environ.get(BACKEND_ENV, "").strip()
    if not name:
        return None
    if name not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={name}: unknown backend; choose one of "
                         f"{', '.join(BACKENDS)}")
    return name


def choose_backend(module: torch.nn.Module, sample: torch.Tensor, device: torch.device,
                   workload: dict[str, Any], digest: str, use_cache: bool = True
                   ) -> Decision:
    """The fastest backend here for ``module`` (weights ``digest``) on inputs shaped like
    ``sample``."""
    wanted = backend_override()
    names = available(device)
    if wanted is not None and wanted not in names:
        raise ValueError(f"{BACKEND_ENV}={wanted}: not installed or not for {device.type}")
    paths = [p for p in candidates(device, backends=names)
             if wanted is None or p.backend == wanted]
    in_channels = sample.shape[1]

    def prepare(path: FastPath) -> Callable[[], torch.Tensor]:
        backend = build(module, path, device, in_channels, digest)
        return lambda: backend(sample).cpu()

    # Keyed by channels and pixels to the nearest power of two: a folder of photos of
    # slightly different sizes shares one decision.
    pixels = 2 ** round(math.log2(max(1, sample.shape[-1] * sample.shape[-2])))
    # (A workload may name its weights itself: one decision for a family of them.)
    return choose(paths, prepare, output_gap, OUTPUT_TOLERANCE, device,
                  {"task": "inference", "weights": digest, **workload,
                   "channels": in_channels, "pixels": pixels},
                  use_cache=use_cache)


class FastGenerator:
    """A generator on the fastest backend here, chosen on its first call (the choice is
    measured on that input's first sample, or read from the cache)."""

    def __init__(self, module: torch.nn.Module, device: torch.device,
                 workload: dict[str, Any] | None = None):
        self.module, self.device = module, device
        self.workload = dict(workload or {})
        self.decision: Decision | None = None
        self._backend: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._backend is None:
            sample = x[:1].detach().float().to(self.device)
            digest = weights_digest(self.module)
            self.decision = choose_backend(self.module, sample, self.device, self.workload,
                                           digest)
            self._backend = build(self.module, self.decision.path, self.device, x.shape[1],
                                  digest)
        return self._backend(x)


def fast_generator(module: torch.nn.Module, device: torch.device,
                   workload: dict[str, Any] | None = None) -> FastGenerator:
    return FastGenerator(module, device, workload)
