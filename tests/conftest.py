"""Shared fixtures: photos that scikit-image ships, a fake detector, a tiny pair set.

Nothing public takes a detector: tests that need other detections replace the project's
shared detector (``mosaicgan.detect.shared._detector``) through ``no_detections``,
``inject`` or :func:`detector_replaced`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from mosaicgan.detect import shared
from mosaicgan.detect.base import Detection

torch.set_num_threads(2)

ASTRONAUT_FACE = (173, 82, 102, 98)  # x, y, w, h: checked by eye (x 173-275, y 82-180)


def photo(name: str) -> np.ndarray:
    import skimage.data

    return getattr(skimage.data, name)()


class FakeDetector:
    """Stands in for NudeNet: returns the detections it was given, records its calls."""

    def __init__(self, detections: list[Detection] | None = None):
        self.detections = detections or []
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        self.calls += 1
        return list(self.detections)


class MarkerDetector:
    """Sees ``label`` wherever pure magenta pixels are, in any view at any scale: detections
    injected at a place in the image, whatever crop or resize the caller looks through."""

    MAGENTA = (255, 0, 255)

    def __init__(self, label: str = "FACE", score: float = 0.9):
        self.label, self.score = label, score
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        near = np.abs(image.astype(int) - self.MAGENTA).max(axis=2) < 40
        if not near.any():
            return []
        ys, xs = np.nonzero(near)
        box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
        return [Detection(self.label, self.score, box)]


@contextmanager
def detector_replaced(detector) -> Iterator:
    """The project's shared detector replaced by ``detector`` inside the block."""
    before = shared._detector
    shared._detector = detector
    try:
        yield detector
    finally:
        shared._detector = before


@pytest.fixture(scope="session", autouse=True)
def fast_path_cache(tmp_path_factory) -> Iterator[Path]:
    """Measured fast paths are cached in a folder of the test session, never the user's."""
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("cache")
        mp.setenv("XDG_CACHE_HOME", str(folder))
        yield folder


@pytest.fixture
def no_detections() -> Iterator[FakeDetector]:
    """The shared detector sees nothing (for tests about something else)."""
    with detector_replaced(FakeDetector()) as fake:
        yield fake


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny tensors (the video tests): on a shared 2-core machine two threads wait on each
    other (a 96-px restore ran 10x slower); one thread is fastest. A module asks for it
    with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def inject(monkeypatch):
    """``inject(detector)``: the shared detector for the rest of the test."""
    def replace(detector):
        monkeypatch.setattr(shared, "_detector", detector)
        return detector
    return replace


@pytest.fixture(scope="session")
def photos_dir(tmp_path_factory) -> Path:
    from mosaicgan.imageio import write_image

    folder = tmp_path_factory.mktemp("photos")
    for name in ("chelsea", "coffee", "rocket", "immunohistochemistry"):
        write_image(folder / f"{name}.png", photo(name))
    return folder


@pytest.fixture(scope="session")
def tiny_pairs(tmp_path_factory, photos_dir) -> Path:
    """32 px pairs: 3 photos x 8 for training, 1 photo x 8 for validation."""
    from mosaicgan.api import make_pairs

    out = tmp_path_factory.mktemp("pairs")
    with detector_replaced(FakeDetector()):
        report = make_pairs(photos_dir, out, size=32, per_image=8, block=(2, 6), val=0.25,
                            seed=3, log=lambda _: None, progress=False)
    assert report.ok and report.pairs == {"train": 24, "val": 8}
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_pairs) -> Path:
    """A 32 px restoration run, trained for a few steps (quality is not the point)."""
    from mosaicgan.api import train_pix2pix
    from mosaicgan.train.loop import LoopOptions

    run = tmp_path_factory.mktemp("run")
    with detector_replaced(FakeDetector()):
        train_pix2pix(tiny_pairs, run, config={"size": 32, "ngf": 8, "ndf": 8},
                      log=lambda _: None,
                      loop=LoopOptions(steps=5, batch=2, progress=False, sample_every=0))
    return run


@pytest.fixture(scope="session")
def tiny_translation_model(tmp_path_factory) -> Path:
    """A 32 px pix2pix translation run (no mask channel) on one aligned A|B image."""
    from mosaicgan.api import train_pix2pix
    from mosaicgan.imageio import write_image
    from mosaicgan.train.loop import LoopOptions

    root = tmp_path_factory.mktemp("ab")
    ab = np.concatenate([photo("coffee")[:64, :64], photo("chelsea")[:64, :64]], 1)
    write_image(root / "train" / "1.png", ab)
    run = tmp_path_factory.mktemp("translate_run")
    with detector_replaced(FakeDetector()):
        train_pix2pix(root, run, config={"size": 32, "ngf": 8, "ndf": 8}, log=lambda _: None,
                      loop=LoopOptions(steps=1, progress=False, sample_every=0))
    return run


def still_clip(path: Path, frame: np.ndarray, n: int = 4, pix_fmt: str = "yuv444p") -> Path:
    """``n`` copies of ``frame`` as an H.264 clip at 10 frames/s (near-lossless)."""
    av = pytest.importorskip("av")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = frame.shape[1], frame.shape[0], pix_fmt
        v.options = {"crf": "4", "preset": "ultrafast"}
        for _ in range(n):
            for p in v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path
