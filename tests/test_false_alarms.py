"""The gate's second look at weak face detections (issue 23, hole 6), with real faces and
real non-faces (scikit-image's astronaut, chelsea the cat, brick) and injected detections.
"""

import numpy as np
from PIL import Image

from mosaicgan import safety
from mosaicgan.baselines import run_baseline
from mosaicgan.detect.base import Detection
from mosaicgan.detect.centerface import CenterFaceDetector
from mosaicgan.detect.verify import (
    STRONG_FACE,
    STRONG_NUDENET_FACE,
    human_geometry,
    verified,
)
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask

from .conftest import ASTRONAUT_FACE, photo

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
