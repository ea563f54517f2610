"""The shipped restorer's output with the safety gate left out: for the benchmarks that
attack the gate (anonymise_attack.py) or measure what it catches (face_recall.py
--restored). Nothing public returns ungated pixels; this goes through private paths."""

from __future__ import annotations

import numpy as np

from mosaicgan.find import CellGrid
from mosaicgan.models.restorer import _paste, regions_of, window_for


def ungated(restorer, image: np.ndarray, mask: np.ndarray, grid: CellGrid | None
            ) -> np.ndarray:
    """The restorer's output pasted in ``mask``, the gate left out (benchmark only)."""
    height, width = image.shape[:2]
    grids = None if grid is None else [(mask, grid)]
    out = image
    for box, region in regions_of(mask):
        window = window_for(box, width, height, restorer.cfg.size)
        make_plan = getattr(restorer, "_plan", None) or restorer.plan  # (private since #23)
        plan = make_plan(restorer._prefilled(out, [region], grids), region, box, window,
                         grids, seen=mask)
        [generated] = restorer._generated([plan], 1)
        out = _paste(out, plan, generated)
    return out
