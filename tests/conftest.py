"""Shared fixtures: photos that scikit-image ships, a fake detector, a tiny pair set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mosaicgan.safety import Detection

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


@pytest.fixture
def no_detections() -> FakeDetector:
    return FakeDetector()


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
    report = make_pairs(photos_dir, out, size=32, per_image=8, block=(2, 6), val=0.25, seed=3,
                        detector=FakeDetector(), log=lambda _: None, progress=False)
    assert report.ok and report.pairs == {"train": 24, "val": 8}
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_pairs) -> Path:
    """A 32 px restoration run, trained for a few steps (quality is not the point)."""
    from mosaicgan.api import train_pix2pix
    from mosaicgan.train.loop import LoopOptions

    run = tmp_path_factory.mktemp("run")
    train_pix2pix(tiny_pairs, run, config={"size": 32, "ngf": 8, "ndf": 8},
                  detector=FakeDetector(), log=lambda _: None,
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
    train_pix2pix(root, run, config={"size": 32, "ngf": 8, "ndf": 8}, detector=FakeDetector(),
                  log=lambda _: None, loop=LoopOptions(steps=1, progress=False, sample_every=0))
    return run
