"""The safety gate, with a real face (scikit-image's astronaut) and injected detections.

No image in the project shows nudity: nudity paths are tested by injecting detector results.
"""

import numpy as np
import pytest
import torch

from mosaicgan import safety
from mosaicgan.api import make_pairs, mosaic_image, train_pix2pix
from mosaicgan.errors import InputError
from mosaicgan.regions.masks import box_mask
from mosaicgan.restore import Restorer, crop_padded
from mosaicgan.safety import Detection, screen_image, screen_region
from mosaicgan.train.loop import LoopOptions
from mosaicgan.train.pix2pix import Pix2PixConfig

from .conftest import ASTRONAUT_FACE, FakeDetector, photo

EXPOSED = "FEMALE_BREAST_EXPOSED"


def test_real_face_is_caught_and_a_cup_is_not():
    assert screen_region(photo("astronaut"), ASTRONAUT_FACE) == ["face"]
    # A small part of her face: the wider view sees the face around it.
    assert "face" in screen_region(photo("astronaut"), (200, 110, 40, 40))
    assert screen_region(photo("coffee"), (150, 100, 250, 200)) == []
    assert screen_region(photo("astronaut"), (20, 380, 100, 100)) == []  # her suit


def test_the_nudenet_wrapper_refuses_what_nudenet_would_silently_mishandle():
    detector = safety.default_detector()
    face = photo("astronaut")
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(face.astype(np.float32))  # NudeNet itself returns [] for this
    with pytest.raises(TypeError, match="numpy array"):
        detector.detect("astronaut.png")  # NudeNet raises AttributeError for a missing path
    with pytest.raises(ValueError):
        detector.detect(face[..., 0])
    assert [d.label for d in detector.detect(face)] == ["FACE_FEMALE"]


@pytest.mark.parametrize("label,score,box,expected", [
    (EXPOSED, 0.9, (100, 100, 50, 50), ["nudity"]),
    (EXPOSED, 0.3, (100, 100, 50, 50), ["nudity"]),  # outputs err on the side of caution
    (EXPOSED, 0.2, (100, 100, 50, 50), []),
    ("FEET_EXPOSED", 0.9, (100, 100, 50, 50), []),
    ("BELLY_EXPOSED", 0.9, (100, 100, 50, 50), []),
    ("FACE_MALE", 0.26, (100, 100, 50, 50), ["face"]),
    (EXPOSED, 0.9, (0, 0, 10, 10), []),  # in the context, not in the region
])
def test_injected_detections_in_a_region(label, score, box, expected):
    # The fake detector sees the 320 px context crop; boxes are in its pixels.
    image = photo("coffee")
    fake = FakeDetector([Detection(label, score, box)])
    assert screen_region(image, (150, 100, 200, 200), fake) == expected


def test_training_screen_threshold():
    image = photo("coffee")
    assert screen_image(image, FakeDetector([Detection(EXPOSED, 0.6, (0, 0, 9, 9))])) == ["nudity"]
    assert screen_image(image, FakeDetector([Detection(EXPOSED, 0.4, (0, 0, 9, 9))])) == []
    assert screen_image(image, FakeDetector([Detection("FACE_FEMALE", 0.9, (0, 0, 9, 9))])) == []


class FlagDetector:
    """Reports nudity in one given image and nothing anywhere else."""

    def __init__(self, flagged: np.ndarray):
        self.flagged = flagged

    def detect(self, image):
        same = image.shape == self.flagged.shape and (image == self.flagged).all()
        return [Detection(EXPOSED, 0.9, (0, 0, 4, 4))] if same else []


def test_pairs_skip_flagged_photos_and_name_them(photos_dir, tmp_path):
    from mosaicgan.imageio import read_image

    flagged = read_image(photos_dir / "coffee.png")
    report = make_pairs(photos_dir, tmp_path / "ds", size=32, per_image=2, val=0.0,
                        detector=FlagDetector(flagged), log=lambda _: None, progress=False)
    assert [(p.rsplit("/", 1)[-1], r) for p, r in report.skipped] == [("coffee.png", "nudity")]
    assert report.pairs["train"] == 6
    assert "coffee" not in (tmp_path / "ds" / "train" / "pairs.jsonl").read_text()


def test_training_leaves_out_flagged_pairs(tiny_pairs, tmp_path):
    from mosaicgan.imageio import read_image

    first_clean = read_image(sorted((tiny_pairs / "train").glob("*_clean.png"))[0])
    lines = []
    train_pix2pix(tiny_pairs, tmp_path / "run", config={"size": 32, "ngf": 8, "ndf": 8},
                  detector=FlagDetector(first_clean), log=lines.append,
                  loop=LoopOptions(steps=1, progress=False, sample_every=0))
    assert any("00000_000" in line and "nudity" in line for line in lines)
    assert "safety screen: 1 image(s) left out" in lines
    with pytest.raises(InputError, match="no training images left"):
        train_pix2pix(tiny_pairs, tmp_path / "run2", detector=FakeDetector(
            [Detection(EXPOSED, 0.9, (0, 0, 4, 4))]), log=lambda _: None,
            loop=LoopOptions(steps=1, progress=False))


class OracleRestorer(Restorer):
    """A 'perfect' restorer: it returns the clean photo, so a restored face is a real face."""

    def __init__(self, clean, detector=None, match_cells=False):
        super().__init__(torch.nn.Identity(), Pix2PixConfig(size=64), torch.device("cpu"),
                         "oracle", detector, match_cells)
        self.clean = clean

    def generate(self, image, mask, window):
        return crop_padded(self.clean, *window)


def test_restoring_a_face_keeps_the_mosaic():
    clean = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    mosaiced = mosaic_image(clean, mask, 12)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert [(r.restored, r.reasons) for r in result.regions] == [(False, ["face"])]
    np.testing.assert_array_equal(result.image, mosaiced)


def test_oracle_restores_a_region_without_faces():
    clean = photo("astronaut")
    mask = box_mask(512, 512, (20, 380, 100, 100))
    mosaiced = mosaic_image(clean, mask, 10)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert result.synthesized == [(20, 380, 100, 100)]
    inner = box_mask(512, 512, (23, 383, 94, 94))
    np.testing.assert_array_equal(result.image[inner], clean[inner])
    np.testing.assert_array_equal(result.image[~mask], mosaiced[~mask])
    # Matching the mosaic's cell colours keeps a perfect restoration perfect (up to the
    # rounding of the cell colours to whole levels).
    matched = OracleRestorer(clean, match_cells=True).restore(mosaiced, mask).image
    assert np.abs(matched[inner].astype(int) - clean[inner]).max() <= 1
    np.testing.assert_array_equal(matched[~mask], mosaiced[~mask])


def test_injected_nudity_keeps_the_region_as_it_was():
    clean = photo("coffee")
    mask = box_mask(400, 600, (200, 100, 150, 120))
    mosaiced = mosaic_image(clean, mask, 10)
    fake = FakeDetector([Detection(EXPOSED, 0.8, (100, 100, 80, 80))])
    result = OracleRestorer(clean, detector=fake).restore(mosaiced, mask)
    assert result.refused[0].reasons == ["nudity"] and not result.synthesized
    np.testing.assert_array_equal(result.image, mosaiced)



def test_shipped_model_never_writes_the_astronauts_face():
    """The default model's smooth restoration of a mosaiced face is seen as a face (with
    the head around it) and kept mosaiced: the demo's case, with the real detector."""
    from mosaicgan.api import load_restorer, mosaic_image, restore_image
    from mosaicgan.demo import MOSAIC_BLOCK, PHOTOS, bundled_photos
    from mosaicgan.regions.masks import box_mask

    image = bundled_photos()["astronaut"]
    h, w = image.shape[:2]
    x, y, bw, bh = PHOTOS["astronaut"]
    mask = box_mask(h, w, (round(x * w), round(y * h), round(bw * w), round(bh * h)))
    mosaiced = mosaic_image(image, mask, MOSAIC_BLOCK)
    result = restore_image(mosaiced, load_restorer("default", device="cpu"))
    assert result.regions and not result.synthesized
    assert all(r.reasons == ["face"] for r in result.regions)
    np.testing.assert_array_equal(result.image, mosaiced)
