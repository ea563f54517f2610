"""Following a video's mosaics from one frame to the next, on their own grids.

:class:`MosaicFollower` searches the whole frame (the default finder,
:func:`~mosaicgan.find.combined.find_regions`) only on the first frame, when a
mosaic is lost, and every ``FULL_EVERY`` frames; in between, :func:`follow_regions`
looks for each mosaic again near where it was (pitch kept, phase measured anew).
"""

from __future__ import annotations

import numpy as np

from ..geometry import bounding_box
from .bands import with_band
from .candidates import Jpeg, jpeg_phase
from .combined import find_regions
from .grid import grid_regions
from .pitch import CellGrid, phase_at
from .region import MosaicRegion
from .search import check_image, luma, on_grid

# Following mosaics from one video frame to the next.
FOLLOW_MOVE = 0.25  # share of a region's size it may move between frames
FOLLOW_KEEP = 0.7  # share of its area a followed region must keep (else: search anew)
FULL_EVERY = 12  # frames between whole-frame searches while regions are followed


def follow_regions(image: np.ndarray, previous: list[MosaicRegion], *, min_block: int = 4,
                   min_blocks: int = 9) -> list[MosaicRegion] | None:
    """The mosaics of the frame before, looked for again in ``image``: each on its own
    grid (pitch kept, phase measured anew: the mosaic may move with what it hides), near
    where it was. None when one of them is not found there with most of its area (a
    scene change, a mosaic gone or grown): then the whole frame must be searched.

    Much cheaper than :func:`find_mosaic_regions` (no candidate grids, no pitch search;
    only the regions' surroundings are looked at), and it finds no new mosaic: a caller
    searches the whole frame now and then (:class:`MosaicFollower`)."""
    check_image(image, min_block, min_block, min_blocks)
    y = luma(image)
    h, w = y.shape
    jpeg = jpeg_phase(y)
    taken = np.zeros((h, w), bool)
    out = []
    for before in previous:
        x0, y0, bw, bh = before.box
        grow = int(max(2 * max(before.grid.pitch), FOLLOW_MOVE * max(bw, bh)))
        ya, yb = max(0, y0 - grow), min(h, y0 + bh + grow)
        xa, xb = max(0, x0 - grow), min(w, x0 + bw + grow)
        found = _on_known_grid(image[ya:yb, xa:xb], y[ya:yb, xa:xb], before, jpeg, (xa, ya),
                               min_block, min_blocks)
        if found is None:
            return None
        region = with_band(y, found.placed((xa, ya), (h, w)))
        mask = region.mask & ~taken  # (as found before: with its band, if it had one)
        if mask.sum() < FOLLOW_KEEP * before.mask.sum():
            return None
        region = MosaicRegion(bounding_box(mask), region.grid, mask, region.score,
                              region.exact)
        taken |= mask
        out.append(region)
    return out


def _on_known_grid(crop: np.ndarray, y: np.ndarray, before: MosaicRegion, jpeg: Jpeg | None,
                   offset: tuple[int, int], min_block: int, min_blocks: int
                   ) -> MosaicRegion | None:
    """The largest region on ``before``'s grid (its pitch, the phase measured here) in a
    crop of the frame (coordinates of the crop)."""
    h, w = y.shape
    phase, _ = phase_at(y, (0, h, 0, w), before.grid.pitch)
    if before.grid.is_integer:
        b = before.block
        ox, oy = round(phase[0]) % b, round(phase[1]) % b
        if jpeg is not None:  # the frame's JPEG grid, in the crop's coordinates
            jpeg = ((jpeg[0] - offset[0]) % 8, (jpeg[1] - offset[1]) % 8, jpeg[2], jpeg[3])
        found = [MosaicRegion(bounding_box(m), CellGrid.integer_grid(block, origin), m,
                              score, lossless)
                 for score, block, origin, m, lossless in (
                     f for f in grid_regions(crop, y, b, ox, oy, (0, h, 0, w), min_blocks,
                                              min_block, b, jpeg) if f[0] is not None)
                 if m.any()]
    else:
        found = on_grid(crop, CellGrid(before.grid.pitch, phase), np.zeros((h, w), bool),
                         min_block, min_blocks, known=True)
    return max(found, key=lambda r: int(r.mask.sum()), default=None)


class MosaicFollower:
    """find-mosaic over the frames of a video, in order: each frame's mosaics followed from
    the frame before (:func:`follow_regions`), the whole frame searched when that fails,
    when nothing was found before, and every ``full_every`` frames (for mosaics that
    appear). ``searches`` and ``followed`` count the frames of each kind."""

    def __init__(self, full_every: int = FULL_EVERY):
        if full_every < 1:
            raise ValueError(f"full_every must be >= 1, got {full_every}")
        self.full_every = full_every
        self.previous: list[MosaicRegion] = []
        self.since_search = 0
        self.searches = 0
        self.followed = 0

    def regions(self, frame: np.ndarray) -> list[MosaicRegion]:
        """The mosaics of the next frame."""
        if self.previous and self.since_search + 1 < self.full_every:
            found = follow_regions(frame, self.previous)
            if found is not None:
                self.previous = found
                self.since_search += 1
                self.followed += 1
                return found
        self.previous = find_regions(frame).regions
        self.since_search = 0
        self.searches += 1
        return self.previous
