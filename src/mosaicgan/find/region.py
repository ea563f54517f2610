"""One mosaiced region the finder found: its box, grid, mask and evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import Box
from .pitch import CellGrid


@dataclass(frozen=True, eq=False)  # eq would compare masks elementwise
class MosaicRegion:
    """One mosaiced region.

    box: (x, y, w, h) bounding box; grid: its cells (pitch and phase, fractional for a
    mosaic rescaled after it was made); mask: ``(H, W)`` bool; score: strength of the
    evidence (larger is surer, comparable between regions of one image only); exact:
    whether each cell is exactly one colour (no lossy step since the mosaic was made).
    """

    box: Box
    grid: CellGrid
    mask: np.ndarray
    score: float
    exact: bool = False  # cells of exactly one colour each (no lossy step since it was made)

    @property
    def block(self) -> int:
        """The cell size in whole pixels (the grid's pitch, rounded)."""
        return self.grid.block

    @property
    def origin(self) -> tuple[int, int]:
        """A grid corner (x, y) in whole pixels, in ``[0, block)``."""
        return self.grid.origin
