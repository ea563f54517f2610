"""Find pixelated (mosaiced) regions in an image, without knowing block size or grid.

A mosaic made by :func:`mosaicgan.mosaic.pixelate_array` turns every cell of a square
grid (``block`` pixels, a corner at ``origin``) inside the region into one flat colour.
Flat areas occur in photos too (sky, a wall, saturated white); what they lack is the
*grid*: in a mosaic, cell interiors are flat while the changes sit on the grid lines,
and only there. The search has three stages, all vectorised over pixels and cells
(Python loops run over candidate block sizes and grids only).

1. **Candidate grids.** For every block size b in ``[min_block, max_block]``, the
   absolute luma differences ``|dx|``, ``|dy|`` are summed by column (row) phase
   ``x mod b`` over bands of b rows (columns), then over windows of about 32 px. A window
   whose energy piles up on one phase in both directions votes for the grid
   ``(b, phase_x, phase_y)``; the grids with the most votes (weighted by window area)
   become candidates, each with the area that voted for it. A JPEG input has a faint
   8x8 grid everywhere; its phase is found from the median over 64 px tiles and its
   expected extra energy is taken off the phases it falls on, so that it does not drown
   a mosaic with the same period.

2. **Cells of a candidate grid.** On the grid, each cell gets its interior roughness
   ``g`` (mean ``|dx|``, ``|dy|`` inside the cell, one pixel away from its edges, where
   JPEG rings) and the steps across its four sides (``|mean of the difference along the
   side|``: a mosaic has one constant step per side, while natural texture and ramps
   average out or stay as small as inside). Evidence is the ratio of steps to roughness,
   per cell (``t``), over 3x3 cells (``tw``, where JPEG noise averages out) and over 5x5
   cells (deep inside a region). Seed cells have strong evidence; the region grows from
   them through cells with weaker evidence that are as flat as the seeds, holes are
   filled, and components are kept if they hold ``min_blocks`` seeds and are at least
   3 cells across. A component must also pass a profile test: averaged over its cells,
   ``|dx|`` and ``|dy|`` must peak on the grid line and nowhere else inside the cell,
   which rejects natural periodic patterns (stripes, windows). If the lines of a divisor
   of b carry steps too, the divisor is the block (b was a multiple); if only every m-th
   line carries steps, the block is m * b. On the JPEG grid itself, steps must be larger.

3. **Pixel edge.** Cells cut by the region's edge are mosaiced only on the region's
   side, in one colour. In each cell of the ring around a region, the pixels of the cell's
   most common colour (exactly, for lossless images; within the spread that JPEG leaves
   on the region's seed cells, in luma and chroma, otherwise) that connect to the region
   are added; from the region's own edge cells, pixels clearly not of the cell's colour
   that reach outside are removed. Where the colour of a ring cell also fills the next
   cell out, or the cell is a smooth blend around it, the cut cannot be seen (a mosaiced
   patch of sky next to sky); there the mask is interpolated from the pixels around it.

4. **Rescaled mosaics.** A mosaic made at one size and shown at another (a 1080p video at
   720p) has cells of a fractional pitch (16 px x 2/3 = 10.67) with soft edges, which no
   whole-pixel grid fits. :mod:`mosaicgan.find.pitch` estimates pitch and phase to a
   fraction of a pixel, in x and y separately, from the periodicity of the gradients
   along rows and columns (the phase concentration R of ``|dx|``, ``|dy|`` profiles),
   in windows that vote. Each fractional grid is searched by resampling the image so its
   cells become whole-pixel squares, running stages 2-3 there and mapping the masks
   back. An integer region whose cells drift from its grid by a pixel or more across it
   is such a mosaic seen through the nearest integer grid, and is handed over.

5. **Feathered edges.** Around each region, rings one pixel wide are added while the
   excess of steps on the grid's lines (over steps off them, relative to the photo far
   out) stays above a tenth of its strength inside: the band where a blended mosaic
   fades into the photo belongs to the region, and is restored with it.

In a video, :class:`~mosaicgan.find.follow.MosaicFollower` follows each frame's mosaics
from the frame before on their own grids (the pitch kept, the phase measured anew),
searching the whole frame only on the first frame, when a mosaic is lost, and every
``FULL_EVERY`` frames.

Overlapping results of different grids are resolved by evidence; a result whose grid is a
refinement of an accepted one's is dropped. Known limits: mosaics whose neighbouring cells
have nearly equal colours (sky, saturated areas, smooth walls) are found only in part,
more so after strong JPEG compression, and their edge is a guess where the surroundings
are equally flat. Mosaics rescaled to cells under about 5 px, cells stretched more than
1.5:1, a feathered edge on a JPEG'd integer mosaic (JPEG's own blocking fades the same
way), and mosaics on small photos (too few cells for the pitch windows) are found less
well or not at all.

Stage 1 is :mod:`mosaicgan.find.candidates`, stage 2 :mod:`mosaicgan.find.grid`, stage 3
:mod:`mosaicgan.find.edge`, stage 5 :mod:`mosaicgan.find.bands`; this module runs them
(integer and fractional grids alike) and :mod:`mosaicgan.find.follow` follows a video.

Pure NumPy / SciPy / OpenCV: no files, no prints. Images are ``(H, W, 3)`` uint8 RGB,
masks ``(H, W)`` bool.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

from ..geometry import Box, bounding_box
from .bands import with_band
from .candidates import Jpeg, candidate_grids, jpeg_phase
from .grid import grid_regions
from .pitch import (
    AGREE,
    R_REGION,
    CellGrid,
    GridEstimate,
    estimate_grids,
    families,
    fit,
    harmonic,
    refine,
    resample,
    resample_back,
    to_integer_grid,
)
from .region import MosaicRegion, disjoint

MAX_FRACTIONAL = 4  # fractional grid estimates searched, best first
# How well (R) a fractional grid must explain the edges of a region found on it. A mosaic
# rescaled as a whole keeps square cells (R >= 0.88 measured, JPEG 60 included);
# architecture (windows, bricks, tiles) has periodic edges too, mostly of two pitches
# (R <= 0.86 on Sun-Hays' buildings, all with cells 3 % or more from square), so cells
# that are not square need a near-perfect fit.
FIT_SQUARE = 0.8
FIT_STRETCHED = 0.95
SQUARE = 1.02  # pitches this close (ratio) are square cells
MAX_ASPECT = 1.5  # cells stretched more than this (a 4:3 picture shown 16:9 is 1.33) are none
# An integer region whose refined pitch drifts from its block by this many px across it
# is a rescaled mosaic seen through the nearest integer grid (JPEG noise alone: < 1 px).
DRIFT = 1.0


def find_mosaic(image: np.ndarray, *, min_block: int = 4, max_block: int = 40,
                min_blocks: int = 9) -> np.ndarray:
    """Mask of the pixelated parts of an image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, any size.
        min_block, max_block: range of cell sizes searched, in pixels.
        min_blocks: fewest cells with clear evidence a region must have.

    Returns:
        ``(H, W)`` bool, True where the image is pixelated.
    """
    return regions_mask(find_mosaic_regions(image, min_block=min_block, max_block=max_block,
                                            min_blocks=min_blocks), image.shape[:2])


def regions_mask(regions: list[MosaicRegion], shape: tuple[int, ...]) -> np.ndarray:
    """The ``(H, W)`` bool union of the regions' masks."""
    mask = np.zeros(shape[:2], bool)
    for region in regions:
        mask |= region.mask
    return mask


def find_mosaic_regions(image: np.ndarray, *, min_block: int = 4, max_block: int = 40,
                        min_blocks: int = 9, enough: tuple[np.ndarray, float] | None = None
                        ) -> list[MosaicRegion]:
    """The pixelated regions of an image, each with its grid (block size and origin, or a
    fractional pitch and phase for a mosaic rescaled after it was made).

    Args and checks as :func:`find_mosaic`. ``enough``: ``(area, share)``, an ``(H, W)``
    bool area and a share of it; when mosaics on exact integer grids already cover that
    share (and none drifts), the search for fractional grids is skipped (about half of
    the search's time on Debian 720p frames). Returns regions by decreasing score; their
    masks do not overlap.
    """
    check_image(image, min_block, max_block, min_blocks)
    y = luma(image)
    exact, unsure, drifting = [], [], []
    for r in _integer_regions(image, y, min_block, max_block, min_blocks):
        # A rescaled mosaic seen through the nearest integer grid: its cells drift.
        x0, y0, w, h = r.box
        estimate = refine(y, (y0, y0 + h, x0, x0 + w), (float(r.block), float(r.block)),
                          r.mask)
        if estimate.score < R_REGION:
            unsure.append(r)  # no clear grid near its block: a fractional one may explain it
        elif _drift(estimate.grid.pitch, r.block, r.box) < DRIFT:
            exact.append(r)
        else:
            drifting.append(estimate)
    jpeg = jpeg_phase(y)
    if enough is not None and not drifting and \
            (regions_mask(exact, image.shape) & enough[0]).sum() >= enough[1] * enough[0].sum():
        fractional = []
    else:
        fractional = _fractional_regions(image, y, drifting, exact, min_block, min_blocks,
                                         jpeg)
    taken = regions_mask(fractional, image.shape)
    unsure = [r for r in unsure if (r.mask & taken).sum() <= 0.1 * r.mask.sum()]
    # (a band may reach a neighbour: the stronger region keeps the pixels)
    return disjoint([with_band(y, r) for r in exact + unsure + fractional], image.shape)


def check_image(image: np.ndarray, min_block: int, max_block: int, min_blocks: int) -> None:
    """Raises ValueError for an image that is not (H, W, 3) uint8, or a bad block range."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    if min_block < 2 or max_block < min_block or min_blocks < 1:
        raise ValueError(f"need 2 <= min_block <= max_block and min_blocks >= 1, got "
                         f"{min_block}, {max_block}, {min_blocks}")


def _integer_regions(image: np.ndarray, y: np.ndarray, min_block: int, max_block: int,
                     min_blocks: int) -> list[MosaicRegion]:
    """Regions on grids of square, whole-pixel cells (a mosaic as it was made)."""
    h, w = y.shape
    max_block = min(max_block, h // 3, w // 3)  # at least 3 cells across
    if max_block < min_block:
        return []
    jpeg = jpeg_phase(y)
    queue = [c[1:] for c in candidate_grids(y, min_block, max_block, jpeg)]
    seen = set()
    found = []
    while queue:
        b, ox, oy, roi = queue.pop(0)
        if (b, ox, oy) in seen:
            continue
        seen.add((b, ox, oy))
        for r in grid_regions(image, y, b, ox, oy, roi, min_blocks, min_block, max_block,
                               jpeg):
            if r[0] is None:
                queue.append((r[1], *r[2], r[3]))  # look again with a divisor of b
            else:
                found.append(r)
    found.sort(key=lambda f: -f[0])
    taken = np.zeros((h, w), bool)
    regions: list[MosaicRegion] = []
    for score, b, origin, m, lossless in found:
        area = m.sum()
        if area == 0 or (m & taken).sum() > 0.1 * area:
            continue
        near = cv2.dilate(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if any(_same_grid(b, origin, r.block, r.origin) and (near & r.mask).any()
               for r in regions):
            continue  # the same mosaic seen through the grid of a divisor of its block
        m = m & ~taken
        taken |= m
        box = bounding_box(m)
        regions.append(MosaicRegion(box, CellGrid.integer_grid(int(b), (int(origin[0]),
                                                                         int(origin[1]))),
                                    m, float(score), lossless))
    return regions


def _same_grid(b1: int, o1: tuple[int, int], b2: int, o2: tuple[int, int]) -> bool:
    """Whether all lines of one grid lie on the other's."""
    d = min(b1, b2)
    return max(b1, b2) % d == 0 and (o1[0] - o2[0]) % d == 0 and (o1[1] - o2[1]) % d == 0



def _fractional_regions(image: np.ndarray, y: np.ndarray, first: list[GridEstimate],
                        exact: list[MosaicRegion], min_block: int, min_blocks: int,
                        jpeg: Jpeg | None) -> list[MosaicRegion]:
    """Regions on grids whose pitch is not a whole number of pixels (or whose cells are not
    square): the grids of integer regions whose cells drift (``first``), and those that
    windows of the image agree on away from ``taken``, best first. Each region found is
    searched again on its grid refined over the region itself (more cells: a pitch to
    0.01 px). (A JPEG image's own 8x8 blocks are no mosaic.)"""
    taken = regions_mask(exact, image.shape)
    found: list[MosaicRegion] = []
    seen: list[GridEstimate] = []
    for estimate in sorted(first + families(estimate_grids(y)), key=lambda e: -e.score):
        y0, y1, x0, x1 = estimate.roi
        px, py = estimate.grid.pitch
        if estimate.near_integer or estimate.score < R_REGION \
                or max(px, py) > MAX_ASPECT * min(px, py) \
                or (jpeg is not None and all(abs(p - 8) <= 0.1 for p in estimate.grid.pitch)) \
                or max(estimate.grid.pitch) < min_block or len(seen) == MAX_FRACTIONAL \
                or taken[y0:y1, x0:x1].mean() > 0.5 \
                or any(_same_pitch(s.grid, estimate.grid) for s in seen):
            continue
        seen.append(estimate)
        for first_look in on_grid(image, estimate.grid, taken, min_block, min_blocks):
            x, y0, bw, bh = first_look.box
            again = refine(y, (y0, y0 + bh, x, x + bw), first_look.grid.pitch, first_look.mask)
            regions = [first_look]
            if again.score > fit(y, first_look.box, first_look.grid.pitch, first_look.mask) \
                    and not _same_pitch(again.grid, first_look.grid, 0.002):
                regions = on_grid(image, again.grid, taken, min_block, min_blocks) or regions
            for r in regions:
                mask = r.mask & ~taken
                if mask.sum() < 0.8 * r.mask.sum() \
                        or fit(y, r.box, r.grid.pitch, mask) < _fit_needed(r.grid) \
                        or any(_inside(r.box, f.box) for f in found + exact):
                    continue  # (natural texture can look like cells once resampled; a
                    # piece of a mosaic found already, through another grid)
                taken = taken | mask
                found.append(MosaicRegion(r.box, r.grid, mask, r.score))
    return found


def _fit_needed(grid: CellGrid) -> float:
    """The R a region on this fractional grid needs (square cells or not)."""
    px, py = grid.pitch
    return FIT_SQUARE if max(px, py) <= SQUARE * min(px, py) else FIT_STRETCHED


def on_grid(image: np.ndarray, grid: CellGrid, taken: np.ndarray, min_block: int,
            min_blocks: int, known: bool = False) -> list[MosaicRegion]:
    """The regions on one fractional grid: the image resampled so that its cells become
    squares of the nearest whole size, searched there, the masks mapped back. A ``known``
    grid (followed from a frame before) is taken as it is; otherwise the whole sizes
    next to it, and their phases, are searched too (the estimate is a window's)."""
    h, w = image.shape[:2]
    q = max(min_block, grid.block)
    # The whole image: a region may reach far past the windows that saw its grid.
    m, size = to_integer_grid(grid, (0, h, 0, w), q)
    resampled = resample(image, m, size)
    y = luma(resampled)
    if known:  # the map puts a cell edge at 0
        found = [MosaicRegion(bounding_box(mask), CellGrid.integer_grid(block, origin),
                              mask, score, lossless)
                 for score, block, origin, mask, lossless in grid_regions(
                     resampled, y, q, 0, 0, (0, size[1], 0, size[0]), min_blocks,
                     min_block, q, jpeg_phase(y)) if score is not None and mask.any()]
    else:
        found = _integer_regions(resampled, y, max(min_block, q - 1), q + 1, min_blocks)
    out = []
    for r in found:
        # resampling softens the cell edges: close the one-pixel lines they leave
        closed = cv2.morphologyEx(r.mask.astype(np.uint8), cv2.MORPH_CLOSE,
                                  np.ones((3, 3), np.uint8)) > 0
        mask = ndi.binary_fill_holes(resample_back(closed, m, (h, w))) & ~taken
        if mask.sum() < min_blocks * q * q / 4:
            continue
        box = bounding_box(mask)
        scale = r.block / q  # the block found may be a multiple of q
        cells = CellGrid((grid.pitch[0] * scale, grid.pitch[1] * scale),
                         _source_phase(m, r.origin))
        out.append(MosaicRegion(box, cells, mask, r.score))
    return out


def _inside(a: Box, b: Box) -> bool:
    """Whether most (70 %) of box ``a`` lies within box ``b``."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy >= 0.7 * a[2] * a[3]


def _same_pitch(a: CellGrid, b: CellGrid, tolerance: float = AGREE) -> bool:
    return (harmonic(a.pitch[0], b.pitch[0], tolerance) == 1
            and harmonic(a.pitch[1], b.pitch[1], tolerance) == 1)


def _drift(pitch: tuple[float, float], block: int, box: Box) -> float:
    """How far (px) cells of ``block`` drift from cells of ``pitch`` across ``box``."""
    return max(abs(pitch[0] - block) * box[2] / pitch[0],
               abs(pitch[1] - block) * box[3] / pitch[1])


def _source_phase(m: np.ndarray, origin: tuple[int, int]) -> tuple[float, float]:
    """Where the resampled grid's corner ``origin`` lies in the source (pixel edges)."""
    # u' = s * (u - e): the affine map in pixel-edge terms is u = u' / s + e
    sx, sy = m[0, 0], m[1, 1]
    ex = 0.5 - (m[0, 2] + 0.5) / sx
    ey = 0.5 - (m[1, 2] + 0.5) / sy
    return float(origin[0] / sx + ex), float(origin[1] / sy + ey)


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32 luma (BT.601, as JPEG)."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
