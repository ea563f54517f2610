"""Faces and nudity as :class:`Regions`, from NudeNet (for censoring: adding mosaics).

NudeNet pads an image to a square and looks at it at 320 px, so a face of 25 px in a
2000 px photo shrinks to 4 px and is lost. Images larger than :data:`WHOLE_IMAGE_MAX` are
therefore also searched in overlapping tiles, in a pyramid of tile sizes (``tile``,
``2 * tile``, ...): a face is found at native detail in the small tiles and whole in the
larger ones, whatever its size. Detections from all views are merged.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from ..safety import (
    DETECTOR_SIZE,
    FACE_CLASSES,
    NUDITY_CLASSES,
    Detection,
    Detector,
    check_rgb_uint8,
    default_detector,
)
from .base import Box, Regions, boxes_mask

TILE = 480  # smallest tile: faces down to ~25 px are found (NudeNet needs ~12 px at 320)
OVERLAP = 0.25  # of a tile: an object up to a quarter tile wide is whole in some tile
WHOLE_IMAGE_MAX = 2 * DETECTOR_SIZE  # up to this size, the whole image is detail enough
MERGE_IOU = 0.5  # two boxes overlapping this much are one object


def find_faces(image: np.ndarray, detector: Detector | None = None, min_score: float = 0.25,
               margin: float = 0.15, *, tile: int | None = TILE) -> Regions:
    """Faces (NudeNet's FACE_FEMALE / FACE_MALE) in an image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        detector: anything with ``detect(image) -> list[Detection]``; default NudeNet
            (:func:`mosaicgan.safety.default_detector`).
        min_score: detections below it are ignored. 0.25 errs on the side of hiding.
        margin: each box grows by this fraction of its width/height on every side.
        tile: smallest tile side for large images; None looks at the whole image only
            (fast, but small faces in large images are missed).

    Returns:
        :class:`Regions`: mask = union of all (grown) detections; one box per face after
        merging duplicates, score = the detector's, label = its class.
    """
    return detect_regions(image, FACE_CLASSES, detector, min_score, margin, tile=tile)


def find_nudity(image: np.ndarray, detector: Detector | None = None, min_score: float = 0.25,
                margin: float = 0.1, *, tile: int | None = TILE) -> Regions:
    """Exposed nudity (:data:`mosaicgan.safety.NUDITY_CLASSES`), to censor it.

    Arguments and result as :func:`find_faces`. Classes outside NUDITY_CLASSES (covered
    parts, faces, feet, armpits, belly) are ignored.
    """
    return detect_regions(image, NUDITY_CLASSES, detector, min_score, margin, tile=tile)


def detect_regions(image: np.ndarray, classes: Iterable[str], detector: Detector | None = None,
                   min_score: float = 0.25, margin: float = 0.1, *,
                   tile: int | None = TILE) -> Regions:
    """Detections of ``classes`` scoring at least ``min_score``, grown by ``margin``."""
    check_rgb_uint8(image)
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    if tile is not None and tile < 64:
        raise ValueError(f"tile must be at least 64 px (or None), got {tile}")
    detector = detector or default_detector()
    wanted = frozenset(classes)
    height, width = image.shape[:2]
    found = [d for d in detect_tiled(image, detector, tile)
             if d.label in wanted and d.score >= min_score]
    found = [Detection(d.label, d.score, grow_box(d.box, margin, width, height)) for d in found]
    found = [d for d in found if d.box[2] > 0 and d.box[3] > 0]
    # Censoring: the mask keeps every detection; only the listed boxes are deduplicated.
    mask = boxes_mask(height, width, [d.box for d in found])
    kept = merge_detections(found)
    return Regions(mask, [d.box for d in kept], [d.score for d in kept], [d.label for d in kept])


def detect_tiled(image: np.ndarray, detector: Detector, tile: int | None = TILE
                 ) -> list[Detection]:
    """The detector's detections on the whole image and, when it is large, on tiles.

    Boxes are in ``image``'s pixels. Nothing is merged here.
    """
    height, width = image.shape[:2]
    found = list(detector.detect(image))
    if tile is None or max(height, width) <= WHOLE_IMAGE_MAX:
        return found
    for x0, y0, size in tile_windows(height, width, tile):
        crop = np.ascontiguousarray(image[y0:y0 + size, x0:x0 + size])
        for d in detector.detect(crop):
            x, y, w, h = d.box
            found.append(Detection(d.label, d.score, (x + x0, y + y0, w, h)))
    return found


def tile_windows(height: int, width: int, tile: int) -> Iterator[tuple[int, int, int]]:
    """``(x0, y0, size)`` of square tiles: sizes ``tile * 2**k`` up to two thirds of the
    image's long side, each level overlapping by :data:`OVERLAP` and reaching every edge."""
    size = tile
    while size * 1.5 <= max(height, width):
        for y0 in _starts(height, size):
            for x0 in _starts(width, size):
                yield x0, y0, size
        size *= 2


def _starts(length: int, size: int) -> list[int]:
    """Evenly spread window starts along one axis, first at 0 and last ending at length."""
    if length <= size:
        return [0]
    stride = size * (1 - OVERLAP)
    count = int(np.ceil((length - size) / stride)) + 1
    return [round(v) for v in np.linspace(0, length - size, count)]


def grow_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` x its size on each side, clipped to the image."""
    x, y, w, h = box
    dx, dy = margin * w, margin * h
    x0, y0 = max(0, int(np.floor(x - dx))), max(0, int(np.floor(y - dy)))
    x1 = min(width, int(np.ceil(x + w + dx)))
    y1 = min(height, int(np.ceil(y + h + dy)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def merge_detections(detections: list[Detection], iou: float = MERGE_IOU) -> list[Detection]:
    """Non-maximum suppression: a box that overlaps a higher-scoring one by ``iou``, or
    lies mostly (70%) inside it, is the same object seen twice (in a tile and the whole
    image, or as FACE_FEMALE and FACE_MALE) and is dropped. Best first."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(_same_object(k.box, d.box, iou) for k in kept):
            kept.append(d)
    return kept


def _same_object(a: Box, b: Box, iou: float) -> bool:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = a[2] * a[3], b[2] * b[3]
    union = area_a + area_b - inter
    return inter >= iou * union or inter >= 0.7 * min(area_a, area_b)
