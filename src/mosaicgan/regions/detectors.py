"""Faces and nudity as :class:`Regions`, to censor them (adding mosaics is always allowed).

The detectors are the safety gate's own (:mod:`mosaicgan.detect.shared`): faces are
CenterFace's (a pyramid, and tiles in large images; every candidate it keeps, as
:func:`~mosaicgan.detect.shared.face_finder` says why), nudity is NudeNet's (tiles in
large images). ``--where face`` hides a face with a block or blur that grows with it
(:mod:`mosaicgan.regions.strength`).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..detect.base import Detection, Detector, check_rgb_uint8, merge_detections
from ..detect.shared import face_finder, shared_detector
from ..geometry import grow_box
from ..options import FACE_MARGIN, NUDITY_MARGIN, REGION_SHAPES
from ..safety import FACE_CLASSES, FACE_SCORES, NUDITY_CLASSES
from .base import Regions, boxes_mask
from .masks import paint_ellipse_around

NUDITY_SCORE = 0.25  # errs on the side of hiding


def find_faces(image: np.ndarray, margin: float = FACE_MARGIN, shape: str = "box"
               ) -> Regions:
    """Faces in an image (CenterFace's, at the gate's score).

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        margin: each box grows by this fraction of its width/height on every side.
        shape: ``box``: the mask is the grown boxes; ``ellipse``: the ellipse around each
            detection, reaching as far past it as the margin (at least far enough to hold
            the whole detected box: see :func:`~.masks.paint_ellipse_around`).

    Returns:
        :class:`Regions`: mask = union of all (grown) detections; one box per face after
        merging duplicates, score = the detector's, label = its class.
    """
    return _detect_regions(image, FACE_CLASSES, margin, shape, face_finder())


def find_nudity(image: np.ndarray, margin: float = NUDITY_MARGIN, shape: str = "box"
                ) -> Regions:
    """Exposed nudity (:data:`mosaicgan.safety.NUDITY_CLASSES`), to censor it.

    Arguments and result as :func:`find_faces`. Classes outside NUDITY_CLASSES (covered
    parts, faces, feet, armpits, belly) are ignored.
    """
    return _detect_regions(image, NUDITY_CLASSES, margin, shape, shared_detector())


def _detect_regions(image: np.ndarray, classes: Iterable[str], margin: float, shape: str,
                    detector: Detector) -> Regions:
    """``detector``'s detections of ``classes`` at their scores, grown by ``margin``, as
    boxes or the ellipses around them."""
    check_rgb_uint8(image)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if shape not in REGION_SHAPES:
        raise ValueError(f"unknown region shape {shape!r}; choose one of "
                         f"{', '.join(REGION_SHAPES)}")
    wanted = frozenset(classes)
    height, width = image.shape[:2]
    raw = [d for d in detector.detect(image)
           if d.label in wanted and d.score >= FACE_SCORES.get(d.label, NUDITY_SCORE)]
    # Each detection with its grown box (those grown to nothing, outside the image, left out).
    pairs = [(d, grow_box(d.box, margin, width, height)) for d in raw]
    pairs = [(d, box) for d, box in pairs if box[2] > 0 and box[3] > 0]
    found = [Detection(d.label, d.score, box) for d, box in pairs]
    # Censoring: the mask keeps every detection; only the listed boxes are deduplicated.
    if shape == "box":
        mask = boxes_mask(height, width, [d.box for d in found])
    else:
        mask = np.zeros((height, width), bool)
        for d, _ in pairs:
            paint_ellipse_around(mask, d.box, margin)
    kept = merge_detections(found)
    return Regions(mask, [d.box for d in kept], [d.score for d in kept], [d.label for d in kept])
