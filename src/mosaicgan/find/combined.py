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

from ..geometry import Box, bounding_box
from .learned import THRESHOLD, large_components, mosaic_probability
from .region import MosaicRegion, disjoint
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
    shape: tuple[int, int]  # (H, W) of the image
    unrestorable: list[UnrestorableArea] = field(default_factory=list)

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
    count, labels, stats, _ = cv2.connectedComponentsWithStats(learned.astype(np.uint8), 8)
    regions: list[MosaicRegion] = []
    unrestorable: list[UnrestorableArea] = []
    # Each area is judged on its crop (the area, MARGIN px around it): the whole image's
    # size is paid only by what is kept.
    for k in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        x0, y0 = max(0, x - MARGIN), max(0, y - MARGIN)
        x1, y1 = min(w, x + bw + MARGIN), min(h, y + bh + MARGIN)
        area = labels[y0:y1, x0:x1] == k
        found, rest = _judged(image[y0:y1, x0:x1], area, probability[y0:y1, x0:x1],
                              min_block, max_block, min_blocks)
        regions += [r.placed((x0, y0), (h, w)) for r in found]
        if rest is not None:
            placed = np.zeros((h, w), bool)
            placed[y0:y1, x0:x1] = rest
            unrestorable.append(UnrestorableArea(bounding_box(placed), placed))
    return Finding(disjoint(regions, (h, w)), (h, w), unrestorable)


def _judged(crop: np.ndarray, area: np.ndarray, probability: np.ndarray, min_block: int,
            max_block: int, min_blocks: int
            ) -> tuple[list[MosaicRegion], np.ndarray | None]:
    """One learned ``area`` of a ``crop`` (crop coordinates): its restorable regions, and
    the part of it with no grid that is reported (None: nothing to report)."""
    found = []
    if min(crop.shape[:2]) >= 3 * min_block:
        grown = cv2.dilate(area.astype(np.uint8), _square(GROW)).astype(bool)
        # (exact grids covering the area as this rule asks: no fractional search)
        found = [r for r in find_mosaic_regions(crop, min_block=min_block,
                                                max_block=max_block, min_blocks=min_blocks,
                                                enough=(area, COVERED))
                 if (r.mask & grown).sum() >= SUPPORT * r.mask.sum()]
    covered = sum(int((r.mask & area).sum()) for r in found)
    if found and covered >= COVERED * area.sum():
        # the largest grid region takes the rest of the area (shrunk: the network's edge
        # is soft, the grid's exact)
        inner = cv2.erode(area.astype(np.uint8), _square(ERODE)).astype(bool)
        largest = max(found, key=lambda r: int(r.mask.sum()))
        others = regions_mask([r for r in found if r is not largest], crop.shape)
        joined = largest.mask | (inner & ~others)
        return [r if r is not largest else
                MosaicRegion(bounding_box(joined), r.grid, joined, r.score, r.exact)
                for r in found], None
    if probability[area].mean() < SURE:
        return [], None
    rest = area & ~regions_mask(found, crop.shape)
    return found, rest


def _square(radius: int) -> np.ndarray:
    return np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
