"""The default finder: the learned finder says where, the grid model says how.

The learned finder (:mod:`.learned`) marks where an image looks mosaiced, damaged or not,
and rarely mistakes windows, tiles or brick walls for a mosaic. The grid model
(:mod:`.search`) is then run on a crop around each marked area only. Where it finds a
grid covering most of the area, the area is restorable: the grid's region (its pitch,
phase and cells, which restoring needs, and its pixel-exact edge) joined by the marked
area shrunk by ERODE px (so a grid found on part of a damaged mosaic still gets all of
it, while the network's soft edge does not move an exact one). Where it finds none, the
area is reported as found but not restorable, with the reason, if the network is sure of
it (mean probability >= SURE): an unconfirmed, unsure area is most often a flat patch
or an x264 block of a clean photo. Grid regions elsewhere in the image (no learned
support) are not kept: that is where the grid model's false finds were.

The constants were chosen on the Debian photos the network was trained on (the
mean-IoU and false-find grid of ``benchmarks/find_mosaic_iou.py --damage``'s cases), never
on the photos the benchmark reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from ..geometry import Box, nonzero_box
from .learned import THRESHOLD, large_components, mosaic_probability
from .pitch import CellGrid
from .region import MosaicRegion
from .search import find_mosaic_regions, regions_mask

MARGIN = 48  # px of context around a learned area given to the grid model
SUPPORT = 0.5  # share of a grid region that must lie in the learned area (grown) to count
GROW = 9  # px the learned area is grown by for that test (its edge is soft)
COVERED = 0.5  # share of a learned area grid regions must cover for it to be restorable
ERODE = 4  # px the learned area is shrunk by before it joins a grid region
SURE = 0.9  # mean probability an area without a grid needs to be reported
NO_GRID = "no grid of cells found (too damaged, or not a mosaic of square cells)"


@dataclass(frozen=True, eq=False)
class UnrestorableArea:
    """An area the learned finder sees as mosaiced where no grid was found."""

    box: Box
    mask: np.ndarray
    reason: str = NO_GRID


@dataclass(frozen=True, eq=False)
class Finding:
    """Everything found in one image."""

    regions: list[MosaicRegion]  # restorable, each with its grid
    unrestorable: list[UnrestorableArea] = field(default_factory=list)
    shape: tuple[int, int] = (0, 0)

    @property
    def mask(self) -> np.ndarray:
        """``(H, W)`` bool: every mosaic found, restorable or not."""
        mask = regions_mask(self.regions, self.shape)
        for area in self.unrestorable:
            mask |= area.mask
        return mask


def find_regions(image: np.ndarray, *, min_block: int = 4, max_block: int = 40,
                 min_blocks: int = 9) -> Finding:
    """The mosaics of ``image`` (H, W, 3) uint8: restorable regions and the rest.

    min_block, max_block, min_blocks: as :func:`mosaicgan.find.find_mosaic`, for the grid
    model's search in each learned area.
    """
    h, w = image.shape[:2]
    probability = mosaic_probability(image)
    learned = large_components(probability >= THRESHOLD)
    count, labels = cv2.connectedComponents(learned.astype(np.uint8), connectivity=8)
    shrink = np.ones((2 * ERODE + 1, 2 * ERODE + 1), np.uint8)
    regions: list[MosaicRegion] = []
    unrestorable: list[UnrestorableArea] = []
    for k in range(1, count):
        area = labels == k
        x, y, bw, bh = nonzero_box(area)
        x0, y0 = max(0, x - MARGIN), max(0, y - MARGIN)
        x1, y1 = min(w, x + bw + MARGIN), min(h, y + bh + MARGIN)
        crop = image[y0:y1, x0:x1]
        grown = cv2.dilate(area[y0:y1, x0:x1].astype(np.uint8),
                           np.ones((2 * GROW + 1, 2 * GROW + 1), np.uint8)).astype(bool)
        found = []
        if min(crop.shape[:2]) >= 3 * min_block:
            for region in find_mosaic_regions(crop, min_block=min_block, max_block=max_block,
                                              min_blocks=min_blocks):
                if (region.mask & grown).sum() >= SUPPORT * region.mask.sum():
                    found.append(_placed(region, (x0, y0), (h, w)))
        covered = sum(int((r.mask & area).sum()) for r in found)
        if found and covered >= COVERED * area.sum():
            inner = cv2.erode(area.astype(np.uint8), shrink).astype(bool)
            largest = max(found, key=lambda r: int(r.mask.sum()))
            others = regions_mask([r for r in found if r is not largest], (h, w))
            joined = largest.mask | (inner & ~others)
            found = [r if r is not largest else
                     MosaicRegion(nonzero_box(joined), r.grid, joined, r.score, r.exact)
                     for r in found]
            regions += found
        elif probability[area].mean() >= SURE:
            regions += found
            rest = area & ~regions_mask(found, (h, w))
            unrestorable.append(UnrestorableArea(nonzero_box(rest) or (x, y, bw, bh), rest))
    return Finding(_disjoint(regions), unrestorable, (h, w))


def _placed(region: MosaicRegion, offset: tuple[int, int], shape: tuple[int, int]
            ) -> MosaicRegion:
    """A region found in a crop whose corner is at ``offset``, in the whole image."""
    ox, oy = offset
    x, y, w, h = region.box
    mask = np.zeros(shape, bool)
    ch, cw = region.mask.shape
    mask[oy:oy + ch, ox:ox + cw] = region.mask
    grid = CellGrid(region.grid.pitch, (region.grid.phase[0] + ox, region.grid.phase[1] + oy))
    return MosaicRegion((x + ox, y + oy, w, h), grid, mask, region.score, region.exact)


def _disjoint(regions: list[MosaicRegion]) -> list[MosaicRegion]:
    """Regions by decreasing score, each keeping only pixels no stronger one has (crops of
    two learned areas may overlap and find one mosaic twice)."""
    taken: np.ndarray | None = None
    out = []
    for r in sorted(regions, key=lambda r: -r.score):
        mask = r.mask if taken is None else r.mask & ~taken
        if not mask.any():
            continue
        taken = mask.copy() if taken is None else taken | mask
        out.append(r if mask.sum() == r.mask.sum() else
                   MosaicRegion(nonzero_box(mask), r.grid, mask, r.score, r.exact))
    return out
