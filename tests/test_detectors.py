"""regions/detectors.py and base.py: faces and nudity as Regions (nudity only injected)."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from mosaicgan.detect.base import Detection
from mosaicgan.options import FACE_MARGIN
from mosaicgan.regions.base import Regions, boxes_mask
from mosaicgan.regions.detectors import find_faces, find_nudity, grow_box
from mosaicgan.regions.masks import box_mask, iou

from .conftest import ASTRONAUT_FACE, FakeDetector, photo


def box_iou(a, b, shape) -> float:
    return iou(box_mask(*shape, a), box_mask(*shape, b))


def covered(mask: np.ndarray, box) -> float:
    """Fraction of ``box`` inside ``mask``."""
    x, y, w, h = box
    return float(mask[y:y + h, x:x + w].mean())


def small_astronaut_canvas(x0: int, y0: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut at 1/4 scale (128 px) on a 2000x1500 grey canvas, and her face box."""
    small = cv2.resize(photo("astronaut"), (128, 128), interpolation=cv2.INTER_AREA)
    canvas = np.full((1500, 2000, 3), 128, np.uint8)
    canvas[y0:y0 + 128, x0:x0 + 128] = small
    fx, fy, fw, fh = ASTRONAUT_FACE
    return canvas, (x0 + fx // 4, y0 + fy // 4, fw // 4, fh // 4)


class TestFindFaces:
    def test_astronaut_face(self):
        image = photo("astronaut")
        before = image.copy()
        regions = find_faces(image)
        assert len(regions) == 1 and regions.labels[0] in ("FACE", "FACE_FEMALE")
        # The detection itself is on the face (CenterFace's box takes in the forehead); the
        # default margin then grows it to cover the whole labelled face.
        tight = find_faces(image, margin=0)
        assert box_iou(tight.boxes[0], ASTRONAUT_FACE, image.shape[:2]) >= 0.4
        assert covered(regions.mask, ASTRONAUT_FACE) == 1.0
        assert regions.scores[0] >= 0.25
        np.testing.assert_array_equal(image, before)

    def test_small_face_in_a_big_image(self):
        canvas, face = small_astronaut_canvas(1300, 900)
        regions = find_faces(canvas)
        assert covered(regions.mask, face) >= 0.9
        x, y, w, h = regions.boxes[0]  # the best: her face
        fx, fy, fw, fh = face
        assert fx <= x + w / 2 <= fx + fw and fy <= y + h / 2 <= fy + fh
        # (At the coarse view her whole small portrait may read as a face too: nothing
        # is hidden beyond the pasted 128 px picture grown by the face margin.)
        m = math.ceil(FACE_MARGIN * 128) + 2
        assert not regions.mask[~box_mask(1500, 2000, (1300 - m, 900 - m, 128 + 2 * m,
                                                       128 + 2 * m))].any()

    def test_no_faces_in_coffee(self):
        regions = find_faces(photo("coffee"))
        assert len(regions) == 0 and not regions.mask.any()
        assert regions.mask.shape == (400, 600)

    def test_margin_and_scores_per_detector(self, inject):
        inject(FakeDetector([Detection("FACE_MALE", 0.6, (10, 20, 40, 20)),
                             Detection("FACE_FEMALE", 0.2, (60, 60, 10, 10)),  # below 0.25
                             Detection("FACE", 0.31, (70, 5, 10, 10))]))  # CenterFace: 0.3
        image = np.zeros((100, 100, 3), np.uint8)
        regions = find_faces(image, margin=0.2)
        assert regions.boxes == [(2, 16, 56, 28), (68, 3, 14, 14)]  # 0.2 x 40 = 8 px a side
        assert regions.mask.sum() == 56 * 28 + 14 * 14
        # The default margin: 0.3 x 40 = 12 px a side, clipped at the image's edge.
        assert find_faces(image).boxes == [(0, 14, 62, 32), (67, 2, 16, 16)]
        assert find_faces(image, margin=0).boxes == [(10, 20, 40, 20), (70, 5, 10, 10)]

    def test_bad_input(self, no_detections):
        with pytest.raises(ValueError, match="uint8"):
            find_faces(np.zeros((10, 10, 3), np.float32))
        with pytest.raises(ValueError, match="margin"):
            find_faces(np.zeros((10, 10, 3), np.uint8), margin=-1)


class TestFindNudity:
    image = np.full((120, 160, 3), 90, np.uint8)  # a plain grey image: detections are injected

    def test_injected_detection_with_margin(self, inject):
        detector = inject(FakeDetector([
            Detection("FEMALE_BREAST_EXPOSED", 0.9, (40, 50, 20, 10)),
            Detection("FEET_EXPOSED", 0.95, (100, 100, 20, 10)),  # not nudity
            Detection("MALE_GENITALIA_EXPOSED", 0.1, (0, 0, 30, 30)),  # below min_score
            Detection("FACE_FEMALE", 0.9, (120, 10, 20, 20)),  # a face, not nudity
        ]))
        regions = find_nudity(self.image)
        assert regions.boxes == [(38, 49, 24, 12)]  # 10% of 20 = 2 px, of 10 = 1 px a side
        assert regions.labels == ["FEMALE_BREAST_EXPOSED"] and regions.scores == [0.9]
        assert regions.mask.sum() == 24 * 12 and regions.mask[49:61, 38:62].all()
        assert detector.calls == 1

    def test_boxes_clipped_and_nothing_found(self, inject):
        inject(FakeDetector([Detection("BUTTOCKS_EXPOSED", 0.5, (150, 110, 20, 20))]))
        assert find_nudity(self.image).boxes == [(148, 108, 12, 12)]
        inject(FakeDetector([Detection("FEET_EXPOSED", 0.9, (1, 1, 5, 5))]))
        empty = find_nudity(self.image)
        assert len(empty) == 0 and not empty.mask.any()


class TestHelpers:
    def test_grow_box(self):
        assert grow_box((10, 10, 10, 10), 0.0, 50, 50) == (10, 10, 10, 10)
        assert grow_box((10, 10, 10, 10), 0.5, 50, 50) == (5, 5, 20, 20)
        assert grow_box((0, 40, 10, 10), 0.5, 50, 50) == (0, 35, 15, 15)


class TestRegions:
    def test_empty_and_json(self):
        empty = Regions.empty(4, 6)
        assert len(empty) == 0 and empty.shape == (4, 6)
        assert empty.to_json() == {"width": 6, "height": 4, "coverage": 0.0, "regions": []}
        mask = boxes_mask(10, 10, [(1, 2, 3, 4)])
        regions = Regions(mask, [(1, 2, 3, 4)], [np.float32(0.5)], ["face"])
        data = json.loads(json.dumps(regions.to_json()))
        assert data["regions"] == [{"box": [1, 2, 3, 4], "area": 12, "score": 0.5,
                                    "label": "face"}]
        assert data["coverage"] == 0.12

    def test_checks(self):
        with pytest.raises(ValueError, match="one box, score, label"):
            Regions(np.zeros((3, 3), bool), [(0, 0, 1, 1)], [], ["x"])
        with pytest.raises(ValueError, match="bool"):
            Regions(np.zeros((3, 3), np.uint8))
