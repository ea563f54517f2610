"""The detectors' ONNX networks on the fastest runtime here that gives the same scores.

Candidates: ONNX Runtime's CPU provider in fp32 (the reference, and the only one without
OpenVINO), OpenVINO in f32, and OpenVINO in bf16 where the CPU has bf16 in hardware. Each
is built, called once on a real photo (scikit-image's astronaut), its scores compared
with the reference's, then timed; the fastest within the detector's tolerance wins and is
cached like every fast path (:mod:`mosaicgan.fastpath`; ``mosaicgan doctor`` lists
it). ``MOSAICGAN_DETECTOR_RUNTIME`` names one candidate instead (the recall benchmarks
measure each).

Every candidate takes inputs of any size (OpenVINO's model is reshaped to dynamic height
and width once: it compiles kernels for a new size on its first call).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from ..fastpath import Decision, FastPath, choose

RUNTIME_ENV = "MOSAICGAN_DETECTOR_RUNTIME"
# A candidate's scores (face heat map, class scores: probabilities) may differ from the
# reference's by this much at any point, by default: a tenth of the gap between the
# gate's candidate and verification thresholds (0.08 / 0.3 / 0.4). A detector whose recall
# was measured on each runtime may allow more (CenterFace: see there).
SCORE_TOLERANCE = 0.01
REFERENCE = FastPath("fp32", False, "onnxruntime")
OPENVINO = FastPath("fp32", False, "openvino")
OPENVINO_BF16 = FastPath("bf16", False, "openvino")


class Network(Protocol):
    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        """The network's outputs, in its graph's order, for one float32 NCHW input."""
        ...


class OnnxRuntimeNetwork:
    """An ONNX graph (bytes, or a file's path) on ONNX Runtime's CPU provider."""

    def __init__(self, model: bytes | str, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
        # The CPU provider, chosen explicitly: the listed-first provider could be anything.
        self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        return list(self.session.run(None, {self._input: blob}))


class OpenVinoNetwork:
    """An ONNX graph (bytes, or a file's path) on OpenVINO's CPU plugin, its input's height
    and width made dynamic, in ``precision`` (fp32 asked for explicitly: OpenVINO's default
    on bf16 CPUs is bf16)."""

    def __init__(self, model: bytes | str, precision: str, threads: int | None = None):
        ov = openvino()
        core = openvino_core()
        graph = core.read_model(model) if isinstance(model, str) else core.read_model(model, b"")
        shape = graph.inputs[0].get_partial_shape()
        graph.reshape({graph.inputs[0]: ov.PartialShape([-1, shape[1], -1, -1])})
        config = {"INFERENCE_PRECISION_HINT": {"fp32": "f32"}.get(precision, precision),
                  "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
            if threads < (os.cpu_count() or 1):
                # A share of the machine (a --cluster worker): OpenVINO's pinning puts
                # every such process on the first cores, two workers on one core.
                config["ENABLE_CPU_PINNING"] = False
        self.compiled = core.compile_model(graph, "CPU", config)
        self._request = self.compiled.create_infer_request()
        self._lock = threading.Lock()  # one request: calls from several threads take turns

    def run(self, blob: np.ndarray) -> list[np.ndarray]:
        with self._lock:
            self._request.infer({0: blob})
            return [np.array(self._request.get_output_tensor(i).data)
                    for i in range(len(self.compiled.outputs))]


def openvino() -> Any:
    """The ``openvino`` module, imported with its telemetry declined.

    Importing OpenVINO starts its usage telemetry (``openvino_telemetry``: Google
    Analytics, sent without asking where no consent file exists). An anonymiser must not
    tell anyone it ran, and offline the process sending it never ends: a command that had
    finished its work waited for it at exit (seen here, minutes, with no network). The
    consent check answers "declined" for this process; nothing is written to disk.
    """
    try:
        from openvino_telemetry.utils import opt_in_checker
    except ImportError:  # (a version without it sends nothing)
        pass
    else:
        opt_in_checker.OptInChecker.check = _declined
    import openvino as ov

    return ov


def _declined(_checker: Any, *_args: Any, **_kwargs: Any) -> Any:
    from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult

    return ConsentCheckResult.DECLINED


@functools.cache
def openvino_core() -> Any:
    """The one OpenVINO core of the process, for the detectors and the generators (each
    core starts its own plugins and thread pool: with several, a SIGTERM during training
    crashed the process)."""
    return openvino().Core()


def openvino_bf16() -> bool:
    """Whether OpenVINO's CPU plugin runs bf16 in hardware here (its own probe: AVX512-BF16
    or AMX; it does not follow ONEDNN_MAX_CPU_ISA, and neither do its kernels)."""
    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def candidates() -> list[FastPath]:
    """The reference, then OpenVINO (f32, and bf16 where native) when it is installed."""
    import importlib.util

    paths = [REFERENCE]
    if importlib.util.find_spec("openvino") is not None:
        paths.append(OPENVINO)
        if openvino_bf16():
            paths.append(OPENVINO_BF16)
    wanted = os.environ.get(RUNTIME_ENV, "").strip()
    if wanted:
        chosen = [p for p in paths if p.label == wanted]
        if not chosen:
            raise ValueError(f"{RUNTIME_ENV}={wanted}: not a runtime here; choose one of "
                             f"{', '.join(p.label for p in paths)}")
        return chosen
    return paths


def thread_budget() -> int | None:
    """The threads a network may use: ``OMP_NUM_THREADS`` where it is set (a Ray worker
    gets its share of the CPUs there), else None (the runtime's default: every core)."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def build(path: FastPath, model: bytes, for_onnxruntime: Callable[[bytes], bytes]) -> Network:
    if path.backend == "onnxruntime":
        return OnnxRuntimeNetwork(for_onnxruntime(model), threads=thread_budget())
    return OpenVinoNetwork(model, path.precision, threads=thread_budget())


def fastest_network(name: str, model: bytes, sample: Callable[[], np.ndarray],
                    scores: Callable[[list[np.ndarray]], np.ndarray],
                    for_onnxruntime: Callable[[bytes], bytes] = lambda model: model,
                    tolerance: float | None = None, use_cache: bool = True
                    ) -> tuple[Network, Decision]:
    """The network ``model`` (ONNX bytes; ``for_onnxruntime`` makes ONNX Runtime's form of
    it, OpenVINO reshapes its own) on the fastest runtime whose ``scores`` of the outputs
    for ``sample()`` (made only when something is measured) are within ``tolerance``
    (default :data:`SCORE_TOLERANCE`) of ONNX Runtime's."""
    paths = candidates()
    if len(paths) == 1:
        named = os.environ.get(RUNTIME_ENV, "").strip()
        return build(paths[0], model, for_onnxruntime), Decision(
            paths[0], source=f"named by {RUNTIME_ENV}" if named else "only candidate")
    built: dict[FastPath, Network] = {}
    blob = functools.cache(sample)

    def prepare(path: FastPath) -> Callable[[], np.ndarray]:
        network = built[path] = build(path, model, for_onnxruntime)
        return lambda: scores(network.run(blob()))

    workload = {"task": "detector", "model": name,
                "digest": hashlib.sha256(model).hexdigest()[:16]}
    allowed = SCORE_TOLERANCE if tolerance is None else tolerance
    decision = choose(paths, prepare, score_gap, allowed, None,
                      {**workload, "tolerance": allowed}, use_cache=use_cache)
    network = built.get(decision.path) or build(decision.path, model, for_onnxruntime)
    return network, decision


def score_gap(result: np.ndarray, reference: np.ndarray) -> float:
    """The largest difference between two arrays of scores (inf when not finite)."""
    if not np.isfinite(result).all():
        return float("inf")
    return float(np.abs(result.astype(np.float32) - reference.astype(np.float32)).max())
