"""Region shapes as masks, and masks back to boxes. Boxes are (x, y, w, h) in pixels."""

from __future__ import annotations

import cv2
import numpy as np

Box = tuple[int, int, int, int]


def parse_box(text: str) -> Box:
    """Parse ``"X,Y,W,H"`` into a box; raise ValueError with the text on bad input."""
    parts = text.replace(" ", "").split(",")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"box {text!r} is not X,Y,W,H (four integers)") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0:
        raise ValueError(f"box {text!r} needs x, y >= 0 and w, h > 0")
    return x, y, w, h


def clip_box(box: Box, width: int, height: int) -> Box:
    """The part of ``box`` inside a width x height image (w or h may become 0)."""
    x, y, w, h = box
    x0, y0 = max(0, min(x, width)), max(0, min(y, height))
    x1, y1 = max(x0, min(x + w, width)), max(y0, min(y + h, height))
    return x0, y0, x1 - x0, y1 - y0


def box_mask(height: int, width: int, box: Box) -> np.ndarray:
    """``(H, W)`` bool mask of a rectangle (clipped to the image)."""
    x, y, w, h = clip_box(box, width, height)
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def ellipse_mask(height: int, width: int, box: Box) -> np.ndarray:
    """``(H, W)`` bool mask of the ellipse inscribed in ``box``."""
    x, y, w, h = box
    yy, xx = np.mgrid[:height, :width]
    cx, cy = x + (w - 1) / 2, y + (h - 1) / 2
    return ((xx - cx) / (w / 2)) ** 2 + ((yy - cy) / (h / 2)) ** 2 <= 1.0


def random_region(rng: np.random.Generator, height: int, width: int,
                  area: tuple[float, float] = (0.05, 0.4)) -> tuple[str, Box, np.ndarray]:
    """A random rectangle or ellipse covering a fraction in ``area`` of the image.

    Returns (shape name, bounding box, mask).
    """
    shape = "rect" if rng.random() < 0.5 else "ellipse"
    target = rng.uniform(*area) * height * width
    if shape == "ellipse":
        target /= np.pi / 4  # an ellipse fills pi/4 of its box
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    w = int(np.clip(round(np.sqrt(target * aspect)), 8, width))
    h = int(np.clip(round(target / max(w, 1)), 8, height))
    x = int(rng.integers(0, width - w + 1))
    y = int(rng.integers(0, height - h + 1))
    box = (x, y, w, h)
    mask = box_mask(height, width, box) if shape == "rect" else ellipse_mask(height, width, box)
    return shape, box, mask


def mask_boxes(mask: np.ndarray, min_area: int = 1) -> list[Box]:
    """Bounding boxes of the 8-connected components of a bool mask, largest first."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    boxes = [(int(s[0]), int(s[1]), int(s[2]), int(s[3]), int(s[4])) for s in stats[1:count]]
    boxes = [b for b in boxes if b[4] >= min_area]
    boxes.sort(key=lambda b: -b[4])
    return [b[:4] for b in boxes]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
