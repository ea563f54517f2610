"""The detectors' networks on the runtime measured fastest (mosaicgan.detect.runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from mosaicgan import fastpath
from mosaicgan.detect import centerface, runtime
from mosaicgan.detect.centerface import CenterFaceDetector
from mosaicgan.detect.nudenet import NudeNetDetector
from mosaicgan.geometry import box_iou

from .conftest import photo

LABELS = [p.label for p in runtime.candidates()]


def fake_timings(monkeypatch, seconds: dict[str, float]):
    """Each runtime's call advances a fake clock by its given cost."""
    clock = [0.0]
    real_build = runtime.build

    def build(path, model, for_onnxruntime):
        network = real_build(path, model, for_onnxruntime)
        run = network.run

        def timed(blob):
            clock[0] += seconds.get(path.label, 1.0)
            return run(blob)
        network.run = timed
        return network

    monkeypatch.setattr(runtime, "build", build)
    monkeypatch.setattr(fastpath, "clock", lambda: clock[0])
    monkeypatch.setattr(fastpath, "_crowded", lambda wall, cpu, threads: False)


@pytest.fixture
def pinned(monkeypatch):
    def pin(label: str) -> None:
        monkeypatch.setenv(runtime.RUNTIME_ENV, label)
    return pin


def test_onnx_runtime_runs_on_the_cpu_provider_chosen_explicitly(pinned):
    pinned("onnxruntime")
    detector = CenterFaceDetector()
    assert detector.runtime.path == runtime.REFERENCE
    assert detector.network.session.get_providers() == ["CPUExecutionProvider"]


@pytest.mark.parametrize("label", LABELS)
def test_every_runtime_finds_the_astronaut_s_face_as_onnx_runtime_does(label, pinned):
    """The same face, at a score within the tolerance the choice allows for bf16 (f32
    runtimes within float rounding), on the whole image and on a small view of it."""
    image = photo("astronaut")
    small = np.ascontiguousarray(image[::3, ::3])
    pinned("onnxruntime")
    reference = CenterFaceDetector()
    pinned(label)
    detector = CenterFaceDetector()
    assert detector.runtime.path.label == label
    tolerance = centerface.SCORE_TOLERANCE if "bf16" in label else 1e-4
    for view in (image, small):
        (ours,), (theirs,) = detector.detect(view), reference.detect(view)
        assert box_iou(ours.box, theirs.box) > 0.9
        assert abs(ours.score - theirs.score) <= 2 * tolerance


def test_the_fastest_runtime_within_tolerance_is_chosen(monkeypatch, tmp_path):
    """Timings faked, gaps real: a faster runtime wins only when its scores are close."""
    if "openvino" not in LABELS:
        pytest.skip("OpenVINO is not installed (pip install mosaicgan[openvino])")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(runtime.RUNTIME_ENV, raising=False)
    fake_timings(monkeypatch, {"onnxruntime": 1.0, "openvino": 0.5, "openvino+bf16": 0.2})
    detector = CenterFaceDetector()
    gaps = detector.runtime.gaps
    assert gaps["openvino"] < 1e-4
    bf16_close = gaps.get("openvino+bf16", np.inf) <= centerface.SCORE_TOLERANCE
    assert detector.runtime.path.label == ("openvino+bf16" if bf16_close else "openvino")
    assert detector.runtime.source == "measured"
    # The next detector takes the cached choice without measuring.
    assert CenterFaceDetector().runtime.source == "cache"
    # A runtime whose scores are off is never chosen, however fast.
    monkeypatch.setattr(centerface, "SCORE_TOLERANCE", 0.0)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "again"))
    assert CenterFaceDetector().runtime.path == runtime.REFERENCE


def test_nudenet_runs_on_the_measured_runtime_too(pinned):
    pinned("onnxruntime")
    reference = NudeNetDetector().detect(photo("astronaut"))
    for label in LABELS:
        pinned(label)
        detector = NudeNetDetector()
        assert detector._net.runtime.path.label == label
        ours = detector.detect(photo("astronaut"))
        faces = [d for d in ours if d.label == "FACE_FEMALE"]
        assert faces and any(box_iou(f.box, d.box) > 0.8 for f in faces for d in reference
                             if d.label == "FACE_FEMALE")


def test_an_unknown_runtime_named_is_one_clear_error(pinned):
    pinned("tensorrt")
    with pytest.raises(ValueError, match="MOSAICGAN_DETECTOR_RUNTIME=tensorrt: not a runtime"):
        runtime.candidates()


def test_openvino_is_imported_with_its_telemetry_declined(tmp_path):
    """Importing OpenVINO starts Google Analytics telemetry where no consent file exists
    (offline, the command then hung at exit): the detectors' import declines it."""
    import os
    import subprocess
    import sys

    pytest.importorskip("openvino_telemetry")
    probe = ("from mosaicgan.detect.runtime import openvino\n"
             "openvino()\n"
             "import openvino_telemetry.main as m\n"
             "print(m.Telemetry().consent)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"  # (a home without a consent file: it would send)
    assert not any(tmp_path.rglob("*"))  # and nothing written there to decline it
