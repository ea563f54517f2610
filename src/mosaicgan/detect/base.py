"""What every detector returns, and the checks and merging shared by all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..geometry import Box

MERGE_IOU = 0.5  # two boxes overlapping this much are one object
OVERLAP = 0.25  # of a tile: an object up to a quarter tile wide is whole in some tile


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box  # (x, y, w, h) in the detected image's pixels
    # CenterFace's five points (eyes, nose, mouth corners) as x0, y0, ..., x4, y4 in the
    # same pixels; None from detectors that give none
    landmarks: tuple[float, ...] | None = None


class Detector(Protocol):
    def detect(self, image: np.ndarray) -> list[Detection]:
        """Detections in an ``(H, W, 3)`` uint8 RGB image."""
        ...


def check_rgb_uint8(image: object) -> None:
    """Raise TypeError/ValueError unless ``image`` is an ``(H, W, 3)`` uint8 array."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected an (H, W, 3) uint8 numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.shape} {image.dtype}")


def shifted(detections: list[Detection], dx: float, dy: float, scale: float = 1.0
            ) -> list[Detection]:
    """Detections in a view (a crop at ``(dx, dy)`` of an image, resized by ``scale``)
    mapped back to the image's pixels."""
    out = []
    for d in detections:
        x, y, w, h = d.box
        x0, y0 = dx + x / scale, dy + y / scale
        x1, y1 = dx + (x + w) / scale, dy + (y + h) / scale
        points = None if d.landmarks is None else tuple(
            (dx if i % 2 == 0 else dy) + v / scale for i, v in enumerate(d.landmarks))
        out.append(Detection(d.label, d.score, (round(x0), round(y0), round(x1) - round(x0),
                                                round(y1) - round(y0)), points))
    return out


def same_object(a: Box, b: Box, iou: float = MERGE_IOU) -> bool:
    """Whether two boxes overlap by ``iou`` or one lies mostly (70 %) inside the other."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a, area_b = a[2] * a[3], b[2] * b[3]
    union = area_a + area_b - inter
    return inter >= iou * union or inter >= 0.7 * min(area_a, area_b)


def merge_detections(detections: list[Detection], iou: float = MERGE_IOU) -> list[Detection]:
    """Non-maximum suppression: a box that is :func:`same_object` as a higher-scoring one
    (seen twice, in a tile and the whole image, or by two detectors) is dropped. Best first."""
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if not any(same_object(k.box, d.box, iou) for k in kept):
            kept.append(d)
    return kept


def tile_windows(height: int, width: int, tile: int, levels: int | None = None
                 ) -> Iterator[tuple[int, int, int]]:
    """``(x0, y0, size)`` of square tiles: sizes ``tile * 2**k`` up to two thirds of the
    image's long side (at most ``levels`` sizes), each level overlapping by
    :data:`OVERLAP` and reaching every edge."""
    size, level = tile, 0
    while size * 1.5 <= max(height, width) and (levels is None or level < levels):
        level += 1
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
