"""Boxes and masks: one copy of each operation. Boxes are ``(x, y, w, h)`` in pixels."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a width x height image (w or h may become 0)."""
    x, y, w, h = box
    x0, y0 = max(0, min(x, width)), max(0, min(y, height))
    x1, y1 = max(x0, min(x + w, width)), max(y0, min(y + h, height))
    return x0, y0, x1 - x0, y1 - y0


def context_box(box: Box, width: int, height: int, grow: float) -> Box:
    """``box`` grown by the factor ``grow`` about its centre, clipped to the image."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    gw, gh = w * grow, h * grow
    x0, y0 = max(0, int(np.floor(cx - gw / 2))), max(0, int(np.floor(cy - gh / 2)))
    x1, y1 = min(width, int(np.ceil(cx + gw / 2))), min(height, int(np.ceil(cy + gh / 2)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def grow_box(box: Box, margin: float, width: int, height: int) -> Box:
    """``box`` grown by ``margin`` x its size on each side, clipped to the image."""
    x, y, w, h = box
    dx, dy = margin * w, margin * h
    x0, y0 = max(0, int(np.floor(x - dx))), max(0, int(np.floor(y - dy)))
    x1 = min(width, int(np.ceil(x + w + dx)))
    y1 = min(height, int(np.ceil(y + h + dy)))
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def pad_box(box: Box, pad: int, width: int, height: int) -> Box:
    """``box`` grown by ``pad`` px on each side, clipped to the image."""
    x, y, w, h = box
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
    return x0, y0, max(0, x1 - x0), max(0, y1 - y0)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def boxes_overlap(a: Box, b: Box) -> bool:
    """Whether two boxes share any pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def hull(*boxes: Box) -> Box:
    """The smallest box holding all ``boxes``."""
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return x0, y0, x1 - x0, y1 - y0


def bounding_box(mask: np.ndarray) -> Box:
    """The (x, y, w, h) box of a bool mask's True pixels (there must be one)."""
    box = nonzero_box(mask)
    if box is None:
        raise ValueError("the mask is empty")
    return box


def nonzero_box(mask: np.ndarray) -> Box | None:
    """The (x, y, w, h) box of a mask's nonzero pixels; None when it has none.

    Found from row and column reductions, never a list of the pixels: a mask covering a
    40 MP image costs a few kB here where ``np.nonzero`` takes 16 bytes per pixel.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[y0:y1].any(axis=0))
    return int(cols[0]), y0, int(cols[-1]) + 1 - int(cols[0]), y1 - y0


def _labelled(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray, tuple[int, int]]:
    """OpenCV's 8-connected labels of ``mask`` on its nonzero box only: (count, labels,
    stats, (x, y) of the labels' corner); stats' boxes are in the image's pixels.

    A full-image int32 label array is 4 bytes per pixel: here the labels cover the
    mask's box only, in uint16 unless there are too many components. The box starts on
    even coordinates, so OpenCV's 2x2-block scan numbers the components as it would on
    the whole mask.
    """
    box = nonzero_box(mask)
    if box is None:
        return 1, np.zeros((0, 0), np.uint16), np.zeros((1, 5), np.int32), (0, 0)
    x, y, w, h = box
    x0, y0 = x - x % 2, y - y % 2
    part = mask[y0:y + h, x0:x + w]
    part = part.view(np.uint8) if part.dtype == bool else part.astype(np.uint8)
    try:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            part, connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:  # more than 65534 components
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            part, connectivity=8, ltype=cv2.CV_32S)
    stats = stats.copy()
    stats[1:, 0] += x0
    stats[1:, 1] += y0
    return count, labels, stats, (x0, y0)


def components(mask: np.ndarray, min_area: int = 1, largest_first: bool = False
               ) -> list[tuple[Box, np.ndarray]]:
    """(box, (h, w) bool crop of the component) for each 8-connected part of ``mask``, in
    OpenCV's order or ``largest_first``: nothing the size of the image per component."""
    count, labels, stats, (lx, ly) = _labelled(mask)
    order = _by_area(stats, count) if largest_first else range(1, count)
    out = []
    for i in order:
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            out.append(((x, y, w, h), labels[y - ly:y - ly + h, x - lx:x - lx + w] == i))
    return out


def _by_area(stats: np.ndarray, count: int) -> list[int]:
    return sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])


def component_masks(mask: np.ndarray, min_area: int = 1) -> list[tuple[Box, np.ndarray]]:
    """(box, ``(H, W)`` bool mask) of each 8-connected component of ``mask`` with at least
    ``min_area`` pixels, largest first. (:func:`components` gives crops: less memory.)"""
    out = []
    for (x, y, w, h), crop in components(mask, min_area, largest_first=True):
        full = np.zeros(mask.shape[:2], bool)
        full[y:y + h, x:x + w] = crop
        out.append(((x, y, w, h), full))
    return out


def mask_boxes(mask: np.ndarray, min_area: int = 1) -> list[Box]:
    """Bounding boxes of the 8-connected components of a bool mask, largest first."""
    count, _, stats, _ = _labelled(mask)
    return [tuple(int(v) for v in stats[i, :4]) for i in _by_area(stats, count)
            if stats[i, cv2.CC_STAT_AREA] >= min_area]
