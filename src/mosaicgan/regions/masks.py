"""Region shapes as masks, and masks back to boxes. Boxes are (x, y, w, h) in pixels."""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import Box, clip_box


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


def box_mask(height: int, width: int, box: Box) -> np.ndarray:
    """``(H, W)`` bool mask of a rectangle (clipped to the image)."""
    x, y, w, h = clip_box(box, width, height)
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    return mask


def ellipse_mask(height: int, width: int, box: Box) -> np.ndarray:
    """``(H, W)`` bool mask of the ellipse inscribed in ``box``."""
    mask = np.zeros((height, width), bool)
    paint_ellipse(mask, box)
    return mask


# An ellipse holds its box's corners only when it reaches this far past the box on each
# side (a fraction of the box's size: (sqrt(2) - 1) / 2 = 0.207, and a pixel to spare).
ELLIPSE_MIN_MARGIN = 0.22


def paint_ellipse(mask: np.ndarray, box: Box, reach: float = 0.5) -> Box:
    """Set in ``mask`` (H, W, in place) the ellipse centred on ``box`` whose half-axes are
    ``reach`` times its width and height (0.5: the ellipse inscribed in the box); a pixel
    is inside when its centre is. Returns the ellipse's own box (unclipped)."""
    x, y, w, h = box
    cx, cy, ax, ay = x + w / 2, y + h / 2, reach * w, reach * h
    height, width = mask.shape
    x0, y0 = max(int(np.floor(cx - ax)), 0), max(int(np.floor(cy - ay)), 0)
    x1, y1 = min(int(np.ceil(cx + ax)), width), min(int(np.ceil(cy + ay)), height)
    if x1 > x0 and y1 > y0 and ax > 0 and ay > 0:
        yy, xx = np.mgrid[y0:y1, x0:x1]
        mask[y0:y1, x0:x1] |= ((xx + 0.5 - cx) / ax) ** 2 + ((yy + 0.5 - cy) / ay) ** 2 <= 1.0
    return (int(np.floor(cx - ax)), int(np.floor(cy - ay)), int(np.ceil(2 * ax)),
            int(np.ceil(2 * ay)))


def paint_ellipse_path(mask: np.ndarray, boxes: list[Box], reach: float = 0.5) -> Box:
    """Set in ``mask`` the ellipses of ``boxes`` (as :func:`paint_ellipse`) and the convex
    hull around them: every ellipse on the way from one to another (centre and axes moving
    linearly) lies inside it. The hull is OpenCV's filled polygon (at 1/16 px), which also
    takes the pixels its edge only touches: it errs by covering. Returns the box holding
    the ellipses (unclipped)."""
    held = [paint_ellipse(mask, box, reach) for box in boxes]
    x0, y0 = min(b[0] for b in held), min(b[1] for b in held)
    x1, y1 = max(b[0] + b[2] for b in held), max(b[1] + b[3] for b in held)
    cx0, cy0 = max(x0 - 1, 0), max(y0 - 1, 0)  # the hull's window in the mask
    cx1, cy1 = min(x1 + 1, mask.shape[1]), min(y1 + 1, mask.shape[0])
    if len(set(boxes)) > 1 and cx1 > cx0 and cy1 > cy0:
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        points = np.concatenate([
            np.stack([x + w / 2 + reach * w * np.cos(angles),
                      y + h / 2 + reach * h * np.sin(angles)], 1) for x, y, w, h in boxes])
        # OpenCV's pixel (i, j) is centred on (j, i); ours on (j + 0.5, i + 0.5).
        local = (points - 0.5 - (cx0, cy0)) * 16
        hull = cv2.convexHull(np.round(local).astype(np.int32))
        painted = np.zeros((cy1 - cy0, cx1 - cx0), np.uint8)
        cv2.fillConvexPoly(painted, hull, 1, lineType=cv2.LINE_8, shift=4)
        mask[cy0:cy1, cx0:cx1] |= painted.view(bool)
    return x0, y0, x1 - x0, y1 - y0


def paint_ellipse_around(mask: np.ndarray, box: Box, margin: float) -> Box:
    """:func:`paint_ellipse` reaching ``margin`` of the box's size past each side, and
    never less than it takes to hold the whole box (:data:`ELLIPSE_MIN_MARGIN`)."""
    return paint_ellipse(mask, box, 0.5 + max(margin, ELLIPSE_MIN_MARGIN))


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


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)
