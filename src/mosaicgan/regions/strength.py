"""How hard ``--where face`` hides a face: the mosaic's block and the blur's sigma grow with
the face, so a face is hidden alike at every size.

A fixed block (or one relative to the region, ~16 cells across it) leaves a large face
with enough cells to be recognised, and restorers such as this project's own are trained to
bring the detail back. Here a face gets at most :data:`FACE_CELLS` cells across its box,
and a blur of :data:`FACE_SIGMA` times its size. Both were chosen by attacking them
(benchmarks/anonymise_attack.py): the face mosaiced or blurred, restored by the project's
restorer with the safety gate left out, then looked for with the gate's own detector.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..geometry import Box
from ..mosaic import blur_array, mosaic_image, solid_array
from .base import Regions
from .detectors import FACE_MARGIN

# At most this many cells across a face's box (its longer side). Measured in
# benchmarks/anonymise_attack.py (the astronaut and the cameraman at 64-256 px, the shipped
# restorer at its sharpest, ungated, at the mosaic's scale and rescaled to 12 px cells):
# restored faces were found again at 12, 8 and 6 cells (the cameraman at 64 px), none at
# 5, 4 or 3; 4 keeps a step of margin below 5.
FACE_CELLS = 4
# The blur's sigma as a fraction of the face box's longer side: at 0.15 and 0.25 no blurred
# face was found (same benchmark); 0.25 keeps the margin.
FACE_SIGMA = 0.25
MIN_BLOCK = 2  # px


def face_side(region: Box, margin: float | None = None) -> float:
    """The longer side of the face inside a ``--where face`` region (its box grown by
    ``margin`` on every side, as :func:`mosaicgan.regions.detectors.find_faces` does;
    None: its default)."""
    return max(region[2], region[3]) / (1 + 2 * (FACE_MARGIN if margin is None else margin))


def face_block(region: Box, margin: float | None = None, cells: int = FACE_CELLS) -> int:
    """The mosaic block that leaves at most ``cells`` cells across the face in ``region``."""
    return max(MIN_BLOCK, math.ceil(face_side(region, margin) / cells))


def face_sigma(region: Box, margin: float | None = None, fraction: float = FACE_SIGMA
               ) -> float:
    """The blur's sigma for the face in ``region``: ``fraction`` of the face's size."""
    return max(3.0, fraction * face_side(region, margin))


def redact_faces(image: np.ndarray, regions: Regions, style: str = "mosaic",
                 block: int | None = None, margin: float | None = None) -> np.ndarray:
    """Hide the faces of ``regions`` (from ``find_faces``) in ``image``, each part of the
    mask with a block or sigma for the largest face in it (``block`` given: that block,
    as asked). ``solid`` is a black fill whatever the size."""
    m = margin
    if style == "solid":
        return solid_array(image, regions.mask)
    if style == "mosaic" and block is not None:
        return mosaic_image(image, regions.mask, block)
    count, parts = cv2.connectedComponents(regions.mask.astype(np.uint8), connectivity=8)
    out = image
    for label in range(1, count):
        part = parts == label
        # The faces in this part of the mask (a part can hold several overlapping ones).
        inside = [b for b in regions.boxes if part[b[1]:b[1] + b[3], b[0]:b[0] + b[2]].any()]
        if not inside:  # a mask without boxes: the part's own bounding box
            ys, xs = np.nonzero(part)
            inside = [(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)]
        if style == "mosaic":
            out = mosaic_image(out, part, max(face_block(b, m) for b in inside))
        elif style == "blur":
            out = blur_array(out, part, max(face_sigma(b, m) for b in inside))
        else:
            raise ValueError(f"unknown style {style!r}")
    return out.copy() if out is image else out
