"""The gate's second look at weak face detections (issue 23, hole 6), with real faces and
real non-faces (scikit-image's astronaut, chelsea the cat, brick) and injected detections.
"""

import cv2
import numpy as np
import pytest
from PIL import Image

from mosaicgan import safety
from mosaicgan.baselines import run_baseline
from mosaicgan.detect.animal import ANIMAL, MIN_SIDE, AnimalJudge
from mosaicgan.detect.base import Detection
from mosaicgan.detect.centerface import CenterFaceDetector
from mosaicgan.detect.shared import VerifiedDetector
from mosaicgan.detect.verify import (
    STRONG_FACE,
    STRONG_NUDENET_FACE,
    SURE_FACE,
    human_geometry,
    is_animal_face,
    verified,
)
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask

from .conftest import ASTRONAUT_FACE, FakeDetector, detector_replaced, photo

# CenterFace's five points on the astronaut's face (measured), and the same points jumbled
# as a texture gives them (mouth above the eyes, one eye on the nose).
HUMAN = (203.0, 103.0, 248.0, 106.0, 224.0, 126.0, 203.0, 143.0, 242.0, 146.0)
JUMBLED = (203.0, 143.0, 210.0, 106.0, 224.0, 90.0, 203.0, 103.0, 260.0, 100.0)
BOX = (178, 65, 90, 113)


def demo_cat() -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The demo's cat (chelsea at 384 px) and its mosaic box (as in mosaicgan.jobs.demo)."""
    image = photo("chelsea")
    scale = 384 / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    image = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
    h, w = image.shape[:2]
    return image, (round(0.06 * w), round(0.30 * h), round(0.28 * w), round(0.45 * h))


def test_the_demos_cat_restored_smooth_is_not_a_face():
    """The mosaiced cat filled in smoothly (bicubic, what the shipped restorer starts
    from): NudeNet saw FACE_FEMALE there (up to 0.63) and the region was refused."""
    image, box = demo_cat()
    mask = box_mask(*image.shape[:2], box)
    mosaic = pixelate_array(image, mask, 8, box[:2])
    smooth = run_baseline("bicubic", mosaic, mask, 8, box[:2])
    assert safety.screen_region(smooth, box) == []
    assert safety.screen_region(image, (100, 10, 160, 160)) == []  # the cat's face


def test_the_astronaut_is_still_refused():
    assert safety.screen_region(photo("astronaut"), ASTRONAUT_FACE) == ["face"]
    image = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    mosaic = pixelate_array(image, mask, 8, ASTRONAUT_FACE[:2])
    smooth = run_baseline("bicubic", mosaic, mask, 8, ASTRONAUT_FACE[:2])
    assert safety.screen_region(smooth, ASTRONAUT_FACE) == ["face"]


def test_landmark_geometry_tells_a_face_from_a_jumble():
    assert human_geometry(Detection("FACE", 0.35, BOX, HUMAN))
    assert not human_geometry(Detection("FACE", 0.35, BOX, JUMBLED))
    assert human_geometry(Detection("FACE", 0.35, BOX))  # no points: nothing to judge


def test_a_weak_detection_on_a_texture_is_vetoed_a_strong_one_never():
    brick = np.repeat(photo("brick")[..., None], 3, 2)
    looker = CenterFaceDetector()
    weak_cf = Detection("FACE", 0.35, BOX, JUMBLED)
    weak_nn = Detection("FACE_FEMALE", 0.45, BOX)
    assert verified(brick, [weak_cf], looker) == []  # jumbled points, NudeNet saw nothing
    assert verified(brick, [weak_nn], looker) == []  # CenterFace sees no face there
    strong = [Detection("FACE", STRONG_FACE, BOX, JUMBLED),
              Detection("FACE_MALE", STRONG_NUDENET_FACE, BOX)]
    assert verified(brick, strong, looker) == strong
    # Weak, but the two detectors agree: kept.
    assert verified(brick, [weak_cf, Detection("FACE_MALE", 0.3, BOX)], looker) != []
    # Not a face: never touched.
    other = [Detection("FEET_EXPOSED", 0.3, BOX)]
    assert verified(brick, other, looker) == other


def test_a_weak_nudenet_face_on_a_real_face_is_kept():
    """CenterFace's second look, zoomed in, sees the astronaut: the weak NudeNet face stays."""
    weak = [Detection("FACE_FEMALE", 0.3, ASTRONAUT_FACE)]
    assert verified(photo("astronaut"), weak, CenterFaceDetector()) == weak


CAT_FACE = (140, 40, 130, 120)  # chelsea's eyes and nose, by eye


def astronaut_on_the_cat(width: int = 40) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut's face pasted into chelsea beside the cat's eye, and its box."""
    face_x, face_y, face_w, face_h = ASTRONAUT_FACE
    head = photo("astronaut")[face_y - 10:face_y + face_h + 5, face_x - 5:face_x + face_w + 5]
    s = width / face_w
    part = cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    image = photo("chelsea").copy()
    x, y = 60, 60
    image[y:y + part.shape[0], x:x + part.shape[1]] = part
    return image, (x + round(5 * s), y + round(10 * s), round(face_w * s), round(face_h * s))


@pytest.fixture(scope="module")
def judge() -> AnimalJudge:
    return AnimalJudge()


def test_the_classifier_tells_the_cat_from_a_human_face(judge):
    """EfficientNet-Lite0 itself (no injected probabilities): the cat's face is an animal's
    on the box and around it; the astronaut's face, alone or pasted into the cat photo, is
    not on its own box (the cat around it raises only the surroundings)."""
    assert min(judge.shares(photo("chelsea"), CAT_FACE)) >= ANIMAL
    assert judge.is_animal(photo("chelsea"), CAT_FACE)
    assert max(judge.shares(photo("astronaut"), ASTRONAUT_FACE)) < 0.2
    image, face = astronaut_on_the_cat()
    tight, around = judge.shares(image, face)
    assert tight < 0.2 and around > tight
    assert not judge.is_animal(image, face)


class FixedShares(AnimalJudge):
    def __init__(self, tight: float, around: float):
        super().__init__()
        self.given = (tight, around)

    def shares(self, image, box):
        return self.given


def test_an_animal_needs_the_box_and_its_surroundings_and_a_box_big_enough():
    image = photo("chelsea")
    assert FixedShares(0.9, 0.9).is_animal(image, CAT_FACE)
    assert not FixedShares(0.95, ANIMAL - 0.01).is_animal(image, CAT_FACE)  # animal around
    assert not FixedShares(ANIMAL - 0.01, 0.95).is_animal(image, CAT_FACE)  # a face beside one
    assert not FixedShares(0.9, 0.9).is_animal(image, (100, 100, MIN_SIDE - 1, 40))


def test_a_face_on_an_animal_is_vetoed_a_sure_or_human_one_never(judge):
    """Injected CenterFace detections that pass the second look (no landmarks to judge):
    on the cat's face one is an animal's and goes; the same on the astronaut's face, on
    the astronaut pasted into the cat photo, or a sure one on the cat, stays."""
    looker = CenterFaceDetector()
    on_cat = [Detection("FACE", 0.45, CAT_FACE), Detection("FACE_FEMALE", 0.6, CAT_FACE)]
    assert verified(photo("chelsea"), on_cat, looker) == on_cat  # the second look keeps them
    assert [is_animal_face(photo("chelsea"), d, judge) for d in on_cat] == [True, True]
    shipped = VerifiedDetector(looker, FakeDetector(), judge)
    assert shipped.without_animals(photo("chelsea"), on_cat) == []
    assert VerifiedDetector(looker, FakeDetector()).without_animals(
        photo("chelsea"), on_cat) == on_cat  # no judge
    sure = [Detection("FACE", SURE_FACE, CAT_FACE)]
    assert shipped.without_animals(photo("chelsea"), sure) == sure
    other = [Detection("FEET_EXPOSED", 0.3, CAT_FACE)]
    assert shipped.without_animals(photo("chelsea"), other) == other
    human = [Detection("FACE", 0.45, ASTRONAUT_FACE)]
    assert shipped.without_animals(photo("astronaut"), human) == human
    image, face = astronaut_on_the_cat()
    beside = [Detection("FACE", 0.45, face)]
    assert shipped.without_animals(image, beside) == beside


class WeakFaceInTheMiddle:
    """Stands in for CenterFace: a weak face (no landmarks) in the middle half of every view
    it is shown; the gate's views are centred on the region it screens."""

    def detect(self, image):
        h, w = image.shape[:2]
        return [Detection("FACE", 0.45, (w // 4, h // 4, w // 2, h // 2))]

    def detect_at(self, image, scale, score=0.0):
        return []


def test_the_gate_leaves_an_animal_region_and_refuses_a_face_beside_the_animal(judge):
    """Through screen_region and the shipped verification with the real classifier: a weak
    face seen on the cat's face is left out; seen on the astronaut's face pasted beside
    the cat's eye, it is refused. The gate's glances are reduced views (320 px of 3x and
    5x the region); the judge sees the picture at its own resolution."""
    with detector_replaced(VerifiedDetector(WeakFaceInTheMiddle(), FakeDetector(), judge)):
        assert safety.screen_region(photo("chelsea"), CAT_FACE) == []
        image, face = astronaut_on_the_cat()
        assert safety.screen_region(image, face) == ["face"]
    with detector_replaced(VerifiedDetector(WeakFaceInTheMiddle(), FakeDetector())):
        assert safety.screen_region(photo("chelsea"), CAT_FACE) == ["face"]  # no judge
