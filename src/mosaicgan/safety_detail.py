"""Whether an input shows a face with the detail its output shows there.

A face detector still finds a face under a blur, a fine mosaic or heavy downscaling, so
"the input showed a face here" is not enough for the translation rule: a model that
deblurs a face would pass. The measure here is the detail the output's face shows that
the input does not show at the same place: both boxes are looked at in grey at one size
(the output box's own, at most :data:`SIDE` px; the input enlarged to it when smaller),
their fine detail is what a Gaussian of :data:`SIGMA` px takes away, and the output's
detail is explained as far as it can be by the input's (least squares, scaled by at most
1, shifted by up to :data:`SHIFT` px). What is left over, as a fraction of the output's
detail, is :func:`new_detail`.

Measured by ``benchmarks/face_detail.py`` on the astronaut and the 100 LFW faces (x2):
a face kept as it was, JPEG'd at quality 50-75 or resized x0.8 leaves at most 0.34 new
(median 0.07-0.15); the same face mosaiced (the default block, half and twice it),
blurred (the default sigma and half of it), filled or downscaled x0.25 leaves at least
0.64 (median 0.78-1.0): every one of the 101 faces is refused in every hidden case, none
in a shown one. :data:`NEW_DETAIL` sits between. A quarter of the default blur (under
1 px on a 50 px face) hides little and mostly counts as shown; so do a mosaic whose cells
are finer than the face's own pixels and a downscale that keeps all the face had (LFW x4).
"""

from __future__ import annotations

import cv2
import numpy as np

from .geometry import Box

SIDE = 64  # px: the longest side a face box is compared at
MIN_SIDE = 8  # px: tiny boxes are looked at enlarged to this
SIGMA = 1.0  # px at that size: the detail is what this blur takes away
SHIFT = 1  # px: the input may sit this far off the output (resampling, rounding)
# An output face shows "markedly more" detail than its input when this fraction of its
# detail is not in the input there ...
NEW_DETAIL = 0.5
# ... and that new detail is more than noise: its mean square in grey levels (the
# smoothest LFW face at x4 holds 2.4 in all).
DETAIL_FLOOR = 1.0
# A face whose own detail is below this (mean square, grey levels) is a blurred one: the
# project's default blur leaves a median of 0.36 (LFW x2) and 0.13 (x4); the smoothest
# clean LFW face shows 10 at x2 and 2.4 at x4 (benchmarks/face_detail.py).
BLURRED_FACE = 1.5


def _grey_view(image: np.ndarray, box: Box, side: int) -> np.ndarray | None:
    """``box`` of ``image`` in grey, resized to ``side + 2 * SHIFT`` square, float64."""
    height, width = image.shape[:2]
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(width, x + w), min(height, y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    crop = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    full = side + 2 * SHIFT
    interp = cv2.INTER_AREA if full < max(x1 - x0, y1 - y0) else cv2.INTER_CUBIC
    return cv2.resize(crop, (full, full), interpolation=interp).astype(np.float64)


def _fine(grey: np.ndarray) -> np.ndarray:
    return grey - cv2.GaussianBlur(grey, (0, 0), SIGMA, borderType=cv2.BORDER_REFLECT)


def _side(box: Box) -> int:
    return int(min(SIDE, max(MIN_SIDE, box[2], box[3])))


def _source_box(source: np.ndarray, output: np.ndarray, box: Box) -> Box:
    """``box`` (output pixels) in the source's pixels (the two may differ in size)."""
    sy, sx = source.shape[0] / output.shape[0], source.shape[1] / output.shape[1]
    x, y, w, h = box
    return round(x * sx), round(y * sy), max(1, round(w * sx)), max(1, round(h * sy))


def new_detail(source: np.ndarray, output: np.ndarray, box: Box) -> tuple[float, float]:
    """(fraction, mean square) of the output's fine detail in ``box`` (output pixels) that
    the source does not show at the same place. ``(1.0, detail)`` when the source has
    nothing there; ``(0.0, 0.0)`` when the output box is empty or flat."""
    side = _side(box)
    go = _grey_view(output, box, side)
    if go is None:
        return 0.0, 0.0
    out = _fine(go)[SHIFT:SHIFT + side, SHIFT:SHIFT + side]
    total = float((out ** 2).mean())
    if total <= 1e-9:
        return 0.0, 0.0
    gi = _grey_view(source, _source_box(source, output, box), side)
    if gi is None:
        return 1.0, total
    fine_in = _fine(gi)
    best = total
    for dy in range(-SHIFT, SHIFT + 1):
        for dx in range(-SHIFT, SHIFT + 1):
            src = fine_in[SHIFT + dy:SHIFT + dy + side, SHIFT + dx:SHIFT + dx + side]
            # The input's detail explains the output's as far as it can, scaled by at most
            # 1: a sharper output is not explained by a faint copy of itself.
            scale = float(np.clip((src * out).sum() / max((src * src).sum(), 1e-9), 0, 1))
            best = min(best, float(((out - scale * src) ** 2).mean()))
    return best / total, best


def shows_more_detail(source: np.ndarray, output: np.ndarray, box: Box) -> bool:
    """Whether the output's face at ``box`` shows markedly more detail than the source
    shows there (the source hid it: a mosaic, a blur, a fill, heavy downscaling)."""
    fraction, energy = new_detail(source, output, box)
    return fraction > NEW_DETAIL and energy > DETAIL_FLOOR


def face_detail(image: np.ndarray, box: Box) -> float:
    """The mean square fine detail (grey levels) of ``box``, at the size faces are compared."""
    side = _side(box)
    grey = _grey_view(image, box, side)
    if grey is None:
        return 0.0
    return float((_fine(grey)[SHIFT:SHIFT + side, SHIFT:SHIFT + side] ** 2).mean())


def is_blurred_face(image: np.ndarray, box: Box) -> bool:
    """Whether the face at ``box`` is blurred past recognition of its detail."""
    return face_detail(image, box) < BLURRED_FACE
