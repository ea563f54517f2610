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
    ys, xs = np.nonzero(mask)
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1))


def components(mask: np.ndarray, min_area: int = 1) -> list[tuple[Box, np.ndarray]]:
    """(box, (h, w) bool crop of the component) for each 8-connected part of ``mask``."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    out = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area >= min_area:
            out.append(((x, y, w, h), labels[y:y + h, x:x + w] == i))
    return out


def component_masks(mask: np.ndarray, min_area: int = 1) -> list[tuple[Box, np.ndarray]]:
    """(box, ``(H, W)`` bool mask) of each 8-connected component of ``mask`` with at least
    ``min_area`` pixels, largest first."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [(tuple(int(v) for v in stats[i, :4]), labels == i) for i in order
            if stats[i, cv2.CC_STAT_AREA] >= min_area]


def mask_boxes(mask: np.ndarray, min_area: int = 1) -> list[Box]:
    """Bounding boxes of the 8-connected components of a bool mask, largest first."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = [(int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4])) for s in stats[1:count]]
    boxes = [b for b in boxes if b[4] >= min_area]
    boxes.sort(key=lambda b: -b[4])
    return [b[:4] for b in boxes]
