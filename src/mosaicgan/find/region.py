"""One mosaiced region the finder found: its box, grid, mask and evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import Box, bounding_box
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

    def placed(self, offset: tuple[int, int], shape: tuple[int, int]) -> MosaicRegion:
        """This region, found in a crop whose corner is at ``offset`` = (x, y), in the
        whole image of ``shape`` (H, W)."""
        ox, oy = offset
        x, y, w, h = self.box
        mask = np.zeros(shape[:2], bool)
        ch, cw = self.mask.shape
        mask[oy:oy + ch, ox:ox + cw] = self.mask
        (fx, fy), pitch = self.grid.phase, self.grid.pitch
        grid = CellGrid(pitch, ((fx + ox) % pitch[0], (fy + oy) % pitch[1]))
        return MosaicRegion((x + ox, y + oy, w, h), grid, mask, self.score, self.exact)


def disjoint(regions: list[MosaicRegion], shape: tuple[int, ...]) -> list[MosaicRegion]:
    """The regions by decreasing score, each keeping only the pixels no stronger one has
    (a region left with none is dropped)."""
    taken = np.zeros(shape[:2], bool)
    out = []
    for r in sorted(regions, key=lambda r: -r.score):
        mask = r.mask & ~taken
        if not mask.any():
            continue
        taken |= mask
        out.append(r if mask.sum() == r.mask.sum() else
                   MosaicRegion(bounding_box(mask), r.grid, mask, r.score, r.exact))
    return out
