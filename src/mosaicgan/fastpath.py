"""The fast path for a workload on this machine, chosen by measurement and cached.

One rule for training and inference. The candidates are what the hardware runs natively:
fp32 always (the reference, so the choice can never be slower than it); bf16 only where
the CPU has it in hardware (oneDNN's probe: AVX512-BF16 or AMX) or the GPU supports it;
fp16 on CUDA GPUs; each contiguous and channels_last; training on a CPU adds fp32 with
Winograd convolutions (:mod:`mosaicgan.nets.winograd`); inference adds other backends
(:mod:`.backends`). Emulated bf16 is never a candidate: on an AVX2 CPU a bf16 pix2pix
step is 18x slower than fp32.

Each candidate is built and called once untimed (a warm-up: oneDNN primitives, cuDNN
autotuning, session start), its result compared with fp32's, then timed for a few calls;
the fastest candidate within tolerance wins. The decision is cached as JSON in the
user's cache folder (``$XDG_CACHE_HOME/mosaicgan``, else ``~/.cache/mosaicgan``), keyed
by the machine (device, CPU capability and model or GPU name, threads, torch version)
and the workload (model config, batch, size), so later runs start at once. A choice
between the detectors' runtimes (ONNX Runtime, OpenVINO: no torch in them) is keyed
without torch facts, and this module imports torch only where a torch path asks for it,
so a job that only detects and hides regions starts without it (a second).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CACHE_FILE = "fastpath.json"
CACHE_VERSION = 1  # bump when what a cached decision means changes
TIMED_CALLS = 3  # timed calls per candidate, after its warm-up
TIME_BUDGET_S = 1.0  # ... or fewer, once a candidate has spent this long (at least one)
HOPELESS = 2.0  # stop timing a candidate once a call takes this many times the best median
HOPELESS_WARMUP = 4.0  # not timed at all when its warm-up took this many times the best
# A path must beat the reference (plain fp32) by this fraction to replace it: timing
# noise alone never moves a run off fp32.
WIN_MARGIN = 0.03
# A CPU measurement during which this process got less than this share of its threads'
# time was crowded out by other processes: used for this run, not cached.
BUSY_SHARE = 0.6


@dataclass(frozen=True)
class FastPath:
    """How a model runs: autocast precision, memory format, backend."""

    precision: str = "fp32"
    channels_last: bool = False
    backend: str = "torch"
    winograd: bool = False  # 3x3 and 4x4 convolutions by Winograd where each measures faster

    @property
    def label(self) -> str:
        parts = [] if self.backend == "torch" else [self.backend]
        if self.backend == "torch" or self.precision != "fp32":
            parts.append(self.precision)
        if self.channels_last:
            parts.append("channels_last")
        if self.winograd:
            parts.append("winograd")
        return "+".join(parts)

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype (None: plain fp32)."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def memory_format(self) -> torch.memory_format:
        import torch

        return torch.channels_last if self.channels_last else torch.contiguous_format


PLAIN = FastPath()  # fp32, contiguous, torch: the reference every choice is checked against


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 runs in hardware here (not emulated in fp32 arithmetic)."""
    import torch

    if device.type == "cpu":
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return False


def native_precisions(device: torch.device) -> list[str]:
    """fp32 always; bf16 where native; fp16 on CUDA (CPU fp16 is emulated almost everywhere)."""
    out = ["fp32"]
    if native_bf16(device):
        out.append("bf16")
    if device.type == "cuda":
        out.append("fp16")
    return out


def candidates(device: torch.device, precision: str = "auto",
               channels_last: bool | None = None,
               backends: tuple[str, ...] = ("torch",), winograd: bool = False
               ) -> list[FastPath]:
    """The paths to measure, plain fp32 first. An explicit ``precision`` or
    ``channels_last`` (the user's flags) leaves only the paths that have it; both given
    leave one path, nothing to measure. ``winograd`` adds fp32 with Winograd
    convolutions on CPUs (GPU libraries choose their own algorithms)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    precisions = native_precisions(device) if precision == "auto" else [precision]
    formats = [False, True] if device.type in ("cpu", "cuda") else [False]
    if channels_last is not None:
        formats = [channels_last]
    paths = [FastPath(p, cl) for p in precisions for cl in formats]
    pinned = precision != "auto" and channels_last is not None
    if (winograd and device.type == "cpu" and "fp32" in precisions
            and channels_last is not True and not pinned):
        paths.append(FastPath(winograd=True))
    # Other backends run their own graph optimisations in fp32 and in their own layout.
    if precision in ("auto", "fp32") and channels_last is not True:
        paths += [FastPath("fp32", False, b) for b in backends if b != "torch"]
    return paths


def machine(device: torch.device | None) -> dict[str, Any]:
    """What a decision depends on besides the workload (also printed by benchmarks).
    ``device`` None: a CPU decision between the inference runtimes alone (ONNX Runtime,
    OpenVINO), which do not run on torch: torch is not imported."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if device is None:
        info: dict[str, Any] = {"device": "cpu", "cpu": cpu_model(), "threads": os.cpu_count()}
    else:
        import torch

        info = {"device": device.type, "torch": torch.__version__,
                "threads": torch.get_num_threads()}
        if device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(device)
        else:
            info["cpu"] = cpu_model()
            # The effective capability: ATEN_CPU_CAPABILITY lowers torch's,
            # ONEDNN_MAX_CPU_ISA (or its old name) oneDNN's; a decision measured under one
            # does not hold for another.
            info["capability"] = torch.backends.cpu.get_cpu_capability()
            info["native_bf16"] = native_bf16(torch.device("cpu"))
    if isa and info["device"] == "cpu":
        info["onednn_isa"] = isa.upper()
    # A verdict expires with the libraries that run the candidates.
    info["libraries"] = dict(library_versions())
    return info


@functools.cache
def library_versions() -> dict[str, str]:
    """The versions of mosaicgan and the inference runtimes installed (read once from their
    package metadata: nothing is imported)."""
    from importlib import metadata

    out = {}
    for name in ("mosaicgan", "onnxruntime", "openvino"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cpu_model() -> str:
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mosaicgan" / CACHE_FILE


def cache_key(machine_info: dict[str, Any], workload: dict[str, Any]) -> str:
    text = json.dumps({"v": CACHE_VERSION, "machine": machine_info, "workload": workload},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def cached_decisions() -> dict[str, Any]:
    """Every decision in this machine's cache file, by key (for ``mosaicgan doctor``)."""
    return _read_cache(cache_path())


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: measure again
    return data if isinstance(data, dict) else {}


def _write_cache(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one entry, atomically (a concurrent writer may win; its entry is as good)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(path)
        data[key] = entry
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the decision still holds for this run


@dataclass
class Decision:
    """The chosen path, with what it was chosen from (seconds per call, and why others lost)."""

    path: FastPath
    seconds: dict[str, float] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    gaps: dict[str, float] = field(default_factory=dict)
    source: str = "only candidate"  # "measured", "cache", "only candidate"

    def describe(self) -> str:
        if not self.seconds and not self.rejected:
            return f"{self.path.label} ({self.source})"
        times = ", ".join(f"{k} {format_seconds(v)}" for k, v in self.seconds.items())
        out = f"{self.path.label} ({self.source}; per call: {times}"
        if self.rejected:
            out += "; rejected: " + ", ".join(f"{k} ({v})" for k, v in self.rejected.items())
        return out + ")"

    def speedup(self) -> float | None:
        """Plain fp32's time over the chosen path's, when both were measured."""
        plain, chosen = self.seconds.get(PLAIN.label), self.seconds.get(self.path.label)
        return plain / chosen if plain and chosen else None


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


# Decisions measured on a busy machine: not written to the cache, but kept for the process.
_unsaved: dict[tuple[str, str], Decision] = {}

# prepare(path) -> a function doing one call of the workload on that path and returning
# what its numerics are judged by, or None when the path is the same as one already built
# (a model that keeps itself contiguous, say).
Prepare = Callable[[FastPath], Callable[[], Any] | None]  # (a tensor or an array)
Gap = Callable[[Any, Any], float]


def choose(paths: list[FastPath], prepare: Prepare, gap: Gap, tolerance: float,
           device: torch.device | None, workload: dict[str, Any], *, use_cache: bool = True,
           timer: Callable[[], float] | None = None) -> Decision:
    """The fastest of ``paths`` whose first result is within ``tolerance`` of the first
    path's (``gap(result, reference)``); the first path (plain fp32 when it is in the list)
    stays unless another beats it by :data:`WIN_MARGIN`, and wins every failure. Cached
    per machine and workload. ``device`` None: the inference runtimes' CPU (see
    :func:`machine`)."""
    if len(paths) == 1:
        return Decision(paths[0])
    info = machine(device)
    key = cache_key(info, {**workload, "paths": [p.label for p in paths]})
    path = cache_path()
    if use_cache and (str(path), key) in _unsaved:
        return _unsaved[(str(path), key)]
    if use_cache:
        entry = _read_cache(path).get(key)
        by_label = {p.label: p for p in paths}
        if isinstance(entry, dict) and entry.get("chosen") in by_label:
            return Decision(by_label[entry["chosen"]], entry.get("seconds", {}),
                            entry.get("rejected", {}), entry.get("gaps", {}), "cache")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    decision = _measure(paths, prepare, gap, tolerance, timer or clock)
    if info["device"] == "cpu" and _crowded(time.perf_counter() - wall0,
                                            time.process_time() - cpu0, info["threads"]):
        # Kept for this process only, so every model built here runs the same path.
        decision.source = "measured on a busy machine, not cached"
        if use_cache:
            _unsaved[(str(path), key)] = decision
        return decision
    if use_cache:
        _write_cache(path, key, {"chosen": decision.path.label, "seconds": decision.seconds,
                                 "rejected": decision.rejected, "gaps": decision.gaps,
                                 "machine": info, "workload": workload,
                                 "tolerance": tolerance,
                                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return decision


def clock() -> float:
    """The timer candidates are timed with (tests replace it)."""
    return time.perf_counter()


def _crowded(wall: float, cpu: float, threads: int) -> bool:
    """Whether other processes took much of the CPU while this one measured on ``threads``
    threads (judged only over measurements long enough to tell)."""
    return wall > 0.5 and cpu < BUSY_SHARE * wall * threads


def _measure(paths: list[FastPath], prepare: Prepare, gap: Gap, tolerance: float,
             timer: Callable[[], float]) -> Decision:
    decision = Decision(paths[0], source="measured")
    reference: Any = None
    best = math.inf
    for p in paths:
        try:
            call = prepare(p)
            if call is None:
                continue
            t0 = timer()
            result = call()  # the warm-up: judged, not timed
            warm_up = timer() - t0
            if reference is None:
                reference = result
            else:
                g = float(gap(result, reference))
                decision.gaps[p.label] = g
                if not g <= tolerance:  # also catches NaN
                    decision.rejected[p.label] = f"differs from {paths[0].label} by {g:.2g}"
                    continue
            # A warm-up far slower than the best so far cannot win: no more calls for it.
            hopeless = warm_up > HOPELESS_WARMUP * best
            times: list[float] = [warm_up] if hopeless else []
            while not hopeless and len(times) < TIMED_CALLS and \
                    (not times or sum(times) < TIME_BUDGET_S):
                t0 = timer()
                call()
                times.append(timer() - t0)
                if times[-1] > HOPELESS * best:
                    break
            del call
        except Exception as exc:  # a path this build cannot run is simply not chosen
            if reference is None:
                raise  # the reference itself failed: the workload is broken, say so
            decision.rejected[p.label] = f"{type(exc).__name__}: {str(exc)[:80]}"
            continue
        seconds = sorted(times)[len(times) // 2]  # the median (upper one of two)
        decision.seconds[p.label] = seconds
        if seconds < best:
            best, decision.path = seconds, p
    reference_s = decision.seconds.get(paths[0].label, math.inf)
    if best > (1 - WIN_MARGIN) * reference_s:
        decision.path = paths[0]
    return decision


def path_from_dict(d: dict[str, Any]) -> FastPath:
    return FastPath(**{k: v for k, v in d.items() if k in asdict(PLAIN)})
