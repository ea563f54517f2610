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
   whole-pixel grid fits. :mod:`mosaicgan.pitch` estimates pitch and phase to a fraction
   of a pixel, in x and y separately, from the periodicity of the gradients along rows
   and columns (the phase concentration R of ``|dx|``, ``|dy|`` profiles), in windows that
   vote. Each fractional grid is searched by resampling the image so its cells become
   whole-pixel squares, running stages 2-3 there and mapping the masks back. An integer
   region whose cells drift from its grid by a pixel or more across it is such a mosaic
   seen through the nearest integer grid, and is handed over.

5. **Feathered edges.** Around each region, rings one pixel wide are added while the
   excess of steps on the grid's lines (over steps off them, relative to the photo far
   out) stays above a tenth of its strength inside: the band where a blended mosaic
   fades into the photo belongs to the region, and is restored with it.

In a video, :class:`MosaicFollower` follows each frame's mosaics from the frame before on
their own grids (the pitch kept, the phase measured anew), searching the whole frame only
on the first frame, when a mosaic is lost, and every ``FULL_EVERY`` frames.

Overlapping results of different grids are resolved by evidence; a result whose grid is a
refinement of an accepted one's is dropped. Known limits: mosaics whose neighbouring cells
have nearly equal colours (sky, saturated areas, smooth walls) are found only in part,
more so after strong JPEG compression, and their edge is a guess where the surroundings
are equally flat. Mosaics rescaled to cells under about 5 px, cells stretched more than
1.5:1, a feathered edge on a JPEG'd integer mosaic (JPEG's own blocking fades the same
way), and mosaics on small photos (too few cells for the pitch windows) are found less
well or not at all.

Pure NumPy / SciPy / OpenCV: no files, no prints. Images are ``(H, W, 3)`` uint8 RGB,
masks ``(H, W)`` bool.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from .geometry import Box, bounding_box
from .pitch import (
    AGREE,
    R_REGION,
    CellGrid,
    GridEstimate,
    estimate_grids,
    families,
    fit,
    harmonic,
    phase_at,
    refine,
    resample,
    resample_back,
    to_integer_grid,
)

__all__ = [
    "MosaicFollower",
    "MosaicRegion",
    "find_mosaic",
    "find_mosaic_regions",
    "follow_regions",
]

Roi = tuple[int, int, int, int]  # y0, y1, x0, x1
Jpeg = tuple[int, int, float, float]  # JPEG block grid: phase x, y; extra energy x, y


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

# Stage 1: voting for grids.
VOTE_MIN = 0.3  # comb score a window needs to vote
COMB_FLOOR = 1.5  # grey levels: keeps faint, noisy windows from voting
TOP_GRIDS = 12  # candidate grids examined

# Stage 2: cells. Ratios are of side steps to interior roughness (grey levels).
STEP_EPS = 0.5  # added to the roughness of one cell
TW_SEED = 3.0  # 3x3-cell ratio of a seed cell
TW_GROW = 1.8  # 3x3-cell ratio of a cell the region grows into...
T_OWN = 1.0  # ...if its own ratio reaches this
TW_ENV = 1.6  # 5x5-cell ratio of cells deep inside a region
SPIKE_MAX = 1.6  # profile peak on the grid line over the largest one inside the cell
JPEG_STEP = 4.0  # median step of seed cells on the input's own JPEG grid

# Stage 3: pixels.
AMB_GRAY = 0.05  # share of a cell's pixels just outside the tolerance: a smooth blend
AMB_FLAT = 0.3  # share of the next cell out in the colour of the cut one: a flat area


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
                        min_blocks: int = 9) -> list[MosaicRegion]:
    """The pixelated regions of an image, each with its grid (block size and origin, or a
    fractional pitch and phase for a mosaic rescaled after it was made).

    Args and checks as :func:`find_mosaic`. Returns regions by decreasing score; their
    masks do not overlap.
    """
    _check_image(image, min_block, max_block, min_blocks)
    y = _luma(image)
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
    jpeg = _jpeg_phase(y)
    fractional = _fractional_regions(image, y, drifting, exact, min_block, min_blocks, jpeg)
    taken = regions_mask(fractional, image.shape)
    unsure = [r for r in unsure if (r.mask & taken).sum() <= 0.1 * r.mask.sum()]
    regions = [_with_band(y, r) for r in sorted(exact + unsure + fractional,
                                                key=lambda r: -r.score)]
    # (a band may reach a neighbour: the stronger region keeps the pixels)
    taken = np.zeros(image.shape[:2], bool)
    out = []
    for r in regions:
        mask = r.mask & ~taken
        taken |= mask
        out.append(r if mask.sum() == r.mask.sum() else MosaicRegion(r.box, r.grid, mask,
                                                                      r.score, r.exact))
    return out


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
    _check_image(image, min_block, min_block, min_blocks)
    y = _luma(image)
    h, w = y.shape
    jpeg = _jpeg_phase(y)
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
        mask = np.zeros((h, w), bool)
        mask[ya:yb, xa:xb] = found.mask
        box = (found.box[0] + xa, found.box[1] + ya, found.box[2], found.box[3])
        (fx, fy), pitch = found.grid.phase, found.grid.pitch
        grid = CellGrid(pitch, ((fx + xa) % pitch[0], (fy + ya) % pitch[1]))
        region = _with_band(y, MosaicRegion(box, grid, mask, found.score, found.exact))
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
                     f for f in _grid_regions(crop, y, b, ox, oy, (0, h, 0, w), min_blocks,
                                              min_block, b, jpeg) if f[0] is not None)
                 if m.any()]
    else:
        found = _on_grid(crop, CellGrid(before.grid.pitch, phase), np.zeros((h, w), bool),
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
        self.previous = find_mosaic_regions(frame)
        self.since_search = 0
        self.searches += 1
        return self.previous


def _check_image(image: np.ndarray, min_block: int, max_block: int, min_blocks: int) -> None:
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
    jpeg = _jpeg_phase(y)
    queue = [c[1:] for c in _candidate_grids(y, min_block, max_block, jpeg)]
    seen = set()
    found = []
    while queue:
        b, ox, oy, roi = queue.pop(0)
        if (b, ox, oy) in seen:
            continue
        seen.add((b, ox, oy))
        for r in _grid_regions(image, y, b, ox, oy, roi, min_blocks, min_block, max_block,
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
        for first_look in _on_grid(image, estimate.grid, taken, min_block, min_blocks):
            x, y0, bw, bh = first_look.box
            again = refine(y, (y0, y0 + bh, x, x + bw), first_look.grid.pitch, first_look.mask)
            regions = [first_look]
            if again.score > fit(y, first_look.box, first_look.grid.pitch, first_look.mask) \
                    and not _same_pitch(again.grid, first_look.grid, 0.002):
                regions = _on_grid(image, again.grid, taken, min_block, min_blocks) or regions
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


def _on_grid(image: np.ndarray, grid: CellGrid, taken: np.ndarray, min_block: int,
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
    luma = _luma(resampled)
    if known:  # the map puts a cell edge at 0
        found = [MosaicRegion(bounding_box(mask), CellGrid.integer_grid(block, origin),
                              mask, score, lossless)
                 for score, block, origin, mask, lossless in _grid_regions(
                     resampled, luma, q, 0, 0, (0, size[1], 0, size[0]), min_blocks,
                     min_block, q, _jpeg_phase(luma)) if score is not None and mask.any()]
    else:
        found = _integer_regions(resampled, luma, max(min_block, q - 1), q + 1, min_blocks)
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


def _luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32 luma (BT.601, as JPEG)."""
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


# --- stage 1: candidate grids from gradient periodicity -----------------------------------

def _candidate_grids(y: np.ndarray, min_block: int, max_block: int, jpeg: Jpeg | None,
                     top: int = TOP_GRIDS) -> list[tuple[float, int, int, int, Roi]]:
    """Grids that windows of ``y`` (H, W) vote for: (votes, block, ox, oy, roi), best first."""
    h, w = y.shape
    # running sums down the columns of |dx| (and along the rows of |dy|): band sums for any b
    cx = np.zeros((h + 1, w - 1), np.float32)
    np.cumsum(np.abs(np.diff(y, axis=1)), axis=0, out=cx[1:])
    cy = np.zeros((h - 1, w + 1), np.float32)
    np.cumsum(np.abs(np.diff(y, axis=0)), axis=1, out=cy[:, 1:])
    cands = []
    for b in range(min_block, max_block + 1):
        hc, wc = (h - 1) // b, (w - 1) // b
        if hc < 2 or wc < 2:
            continue
        k = max(3, -(-32 // b))  # window of k x k cells, at least 32 px
        # (hc, wc, b): energy of band i, period j, phase r
        ex = (cx[b:hc * b + 1:b] - cx[:hc * b:b])[:, :wc * b].reshape(hc, wc, b)
        ey = (cy[:, b:wc * b + 1:b] - cy[:, :wc * b:b])[:hc * b].reshape(hc, b, wc)
        ey = ey.transpose(0, 2, 1)
        skip: list[np.ndarray | None] = [None, None]
        excess = [0.0, 0.0]
        period = int(np.gcd(b, 8))
        if jpeg is not None and period >= 4:
            # JPEG block edges would win wherever a mosaic is faint: discount them
            r = np.arange(b)
            for i in range(2):
                skip[i] = (r + 1 - jpeg[i]) % period == 0
                excess[i] = jpeg[2 + i] * period / 8
        scx, px = _comb(ex, b, k, skip[0], excess[0])
        scy, py = _comb(ey, b, k, skip[1], excess[1])
        s = np.minimum(scx, scy)
        sel = s >= VOTE_MIN
        idx = px * b + py
        votes = np.bincount(idx[sel], weights=s[sel], minlength=b * b)
        for j in np.argsort(votes)[::-1][:3]:
            if votes[j] <= 0:
                break
            rows, cols = np.nonzero(sel & (idx == j))
            roi = (max(0, (rows.min() - k) * b), min(h, (rows.max() + k + 1) * b),
                   max(0, (cols.min() - k) * b), min(w, (cols.max() + k + 1) * b))
            cands.append((float(votes[j]) * b * b, b, int(j // b), int(j % b), roi))
    cands.sort(key=lambda c: -c[0])
    if jpeg is not None:
        # grids made of JPEG block edges only are everywhere and mostly noise: keep two
        on_jpeg = [c for c in cands if c[1] % 8 == 0 and (c[2] - jpeg[0]) % 8 == 0
                   and (c[3] - jpeg[1]) % 8 == 0]
        cands = [c for c in cands if c not in on_jpeg[2:]]
    return cands[:top]


def _comb(e: np.ndarray, b: int, k: int, skip: np.ndarray | None,
          excess: float) -> tuple[np.ndarray, np.ndarray]:
    """Comb score (hc, wc) and best grid phase (hc, wc) of phase energies e (hc, wc, b).

    The score, in [-1, 1), is (best phase - mean of the others) / (best phase + floor),
    over windows of k x k cells. skip: (b,) bool, phases on JPEG block edges: their
    expected extra energy (``excess`` times the median of the other phases) is taken off.
    """
    e = ndi.uniform_filter(e / b, size=(k, k, 1), mode="constant")
    if skip is not None:
        e[..., skip] -= excess * np.median(e[..., ~skip], -1)[..., None]
    r = e.argmax(-1)
    on = np.take_along_axis(e, r[..., None], -1)[..., 0]
    off = (e.sum(-1) - on) / (b - 1)
    return (on - off) / (on + COMB_FLOOR), (r + 1) % b  # line after column r: phase r+1


def _jpeg_phase(y: np.ndarray, tile: int = 64) -> Jpeg | None:
    """The 8x8 JPEG block grid seen all over ``y`` (H, W), or None.

    Returns (phase x, phase y, extra energy x, extra energy y), the extra energy on the
    block edges relative to other columns (rows). Each tile gives its own normalised
    8-phase profile; the median over tiles ignores a mosaic covering a minority of them.
    """
    h, w = y.shape
    nty, ntx = (h - 1) // tile, (w - 1) // tile
    if nty * ntx < 4:
        return None
    phases = []
    for axis in (1, 0):
        d = np.abs(np.diff(y, axis=axis))[:nty * tile, :ntx * tile]
        if axis == 1:
            prof = d.reshape(nty, tile, ntx, tile // 8, 8).sum(axis=(1, 3))
        else:
            prof = d.reshape(nty, tile // 8, 8, ntx, tile).sum(axis=(1, 4)).transpose(0, 2, 1)
        prof = prof.reshape(-1, 8)
        prof = prof[prof.sum(1) > 0]
        if len(prof) < 4:
            return None
        med = np.median(prof / prof.mean(axis=1, keepdims=True), axis=0)
        r = int(med.argmax())
        rest = float(np.delete(med, r).mean())
        if med[r] < 1.1 * rest:
            return None
        # (rest is 0 where only one phase has any energy: a perfect 8-px grid)
        phases.append(((r + 1) % 8, float(med[r]) / max(rest, 1e-6) - 1))
    return phases[0][0], phases[1][0], phases[0][1], phases[1][1]


# --- stage 2: the cells of one grid -------------------------------------------------------

def _grid_regions(image: np.ndarray, y: np.ndarray, b: int, ox: int, oy: int, roi: Roi,
                  min_blocks: int, min_block: int, max_block: int, jpeg: Jpeg | None):
    """Regions mosaiced on grid (b, ox, oy) within roi.

    Returns a list of (score, block, origin, (H, W) mask), or of (None, d, origin, roi)
    when the grid of a divisor d of b explains a region better.
    """
    h, w = y.shape
    crop, ya, xa = _grid_crop(y, b, ox, oy, roi)
    hc, wc = crop.shape[0] // b, crop.shape[1] // b
    if hc < 3 or wc < 3:
        return []
    g, s = _cell_stats(crop.reshape(hc, b, wc, b), b)
    with np.errstate(all="ignore"):  # cells of a one-cell-wide crop have no steps
        med = np.nan_to_num(np.nanmedian(s, axis=0))
        mean = np.nan_to_num(np.nanmean(s, axis=0))
    t = med / (g + STEP_EPS)
    # steps vs roughness over 3x3 cells: the main evidence (JPEG noise averages out)
    tw = ndi.uniform_filter(mean, 3, mode="nearest") / (
        ndi.uniform_filter(g, 3, mode="nearest") + 0.2)
    # JPEG's own 8x8 blocks look like a faint mosaic: on its grid, demand larger steps
    period = min(b, 8)
    aligned = jpeg is not None and (b % 8 == 0 or 8 % b == 0) \
        and (ox - jpeg[0]) % period == 0 and (oy - jpeg[1]) % period == 0
    min_step = JPEG_STEP if aligned else 0.0
    strong = (tw >= TW_SEED) & (t >= 1.0) & (med >= max(0.5, min_step))
    if strong.sum() < min_blocks:
        return []
    sigma = float(np.median(g[strong]))
    lossless = bool(np.mean(g[strong] == 0) > 0.5)
    flat = g <= 3 * sigma + 0.5  # as flat as the seeds (their JPEG noise)
    strong &= flat
    # windowed scores bleed into neighbours, so a cell must also have some steps itself
    weak = flat & (((tw >= TW_GROW) & (t >= T_OWN)) | (t >= 1.5)) & (med >= 0.6 * min_step)
    # deep inside a region, 5x5 cells of evidence decide alone (they bleed 2 cells out)
    tw5 = ndi.uniform_filter(mean, 5, mode="nearest") / (
        ndi.uniform_filter(g, 5, mode="nearest") + 0.2)
    env = (tw5 >= TW_ENV) & (ndi.uniform_filter(med, 5, mode="nearest") >= 0.6 * min_step)
    weak |= ndi.binary_erosion(env, np.ones((5, 5), bool)) & (g <= 3 * sigma + 1.0)
    grown = ndi.binary_propagation(strong, ndi.generate_binary_structure(2, 1), weak | strong)
    cells = ndi.binary_fill_holes(grown)
    full_roi = (0, h, 0, w)
    if tuple(roi) != full_roi:
        # a region reaching the edge of the search area may go on: look at the whole image
        edges = [cells[0].any() and ya > 0, cells[-1].any() and ya + crop.shape[0] < h,
                 cells[:, 0].any() and xa > 0, cells[:, -1].any() and xa + crop.shape[1] < w]
        if any(edges):
            return _grid_regions(image, y, b, ox, oy, full_roi, min_blocks, min_block,
                                 max_block, jpeg)
    rgb, _, _ = _grid_crop(image, b, ox, oy, roi)
    lab, n = ndi.label(cells, np.ones((3, 3), bool))
    out = []
    for i in range(1, n + 1):
        comp = lab == i
        sure = comp & strong
        if sure.sum() < min_blocks or not ndi.binary_erosion(comp, np.ones((3, 3), bool)).any():
            continue  # too few seeds, or thinner than 3 cells
        profs = _profiles(crop, sure, b)
        if not _grid_ok(profs, b, ox, oy, jpeg):
            continue
        d = _finer_block(profs, b, min_block)
        if d != b:
            area = (ya, ya + crop.shape[0], xa, xa + crop.shape[1])
            out.append((None, d, (ox % d, oy % d), area))
            continue
        block, origin = _coarser_grid(s, comp, b, xa, ya, max_block)
        pix = _refine(rgb, comp, sure, b, lossless)
        full = np.zeros((h, w), bool)
        y1, x1 = max(0, ya), max(0, xa)  # the crop may reach past the image
        y2, x2 = min(h, ya + crop.shape[0]), min(w, xa + crop.shape[1])
        full[y1:y2, x1:x2] = pix[y1 - ya:y2 - ya, x1 - xa:x2 - xa]
        score = float(np.log(tw[sure]).sum()) * b * b
        out.append((score, block, origin, full, lossless))
    return out


def _grid_crop(a: np.ndarray, b: int, ox: int, oy: int, roi: Roi):
    """``a`` (H, W, ...) cut to whole cells of grid (b, ox, oy) covering roi.

    Cells past the image are filled by repeating its edge. Returns (crop (hc*b, wc*b, ...),
    y, x of the crop's corner in the image, possibly negative).
    """
    h, w = a.shape[:2]
    ya, yb, xa, xb = roi
    ya -= (ya - oy) % b
    xa -= (xa - ox) % b
    yb += (oy - yb) % b
    xb += (ox - xb) % b
    pad = ((max(0, -ya), max(0, yb - h)), (max(0, -xa), max(0, xb - w)))
    crop = a[max(0, ya):min(h, yb), max(0, xa):min(w, xb)]
    if any(p for pp in pad for p in pp):
        crop = np.pad(crop, pad + ((0, 0),) * (a.ndim - 2), mode="edge")
    return crop, ya, xa


def _cell_stats(c: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells c (hc, b, wc, b) -> interior roughness g (hc, wc), side steps s (4, hc, wc).

    g: mean |dx|, |dy| inside each cell, a pixel away from its edges (JPEG rings there).
    s: |mean difference across| the left, right, top and bottom sides (NaN at the border).
    """
    m = 1 if b >= 5 else 0
    core = c[:, m:b - m, :, m:b - m]
    g = (np.abs(np.diff(core, axis=3)).mean(axis=(1, 3))
         + np.abs(np.diff(core, axis=1)).mean(axis=(1, 3))) / 2
    sx = np.abs((c[:, :, 1:, 0] - c[:, :, :-1, b - 1]).mean(axis=1))
    sy = np.abs((c[1:, 0] - c[:-1, b - 1]).mean(axis=2))
    hc, wc = g.shape
    s = np.full((4, hc, wc), np.nan, np.float32)
    s[0, :, 1:] = sx
    s[1, :, :-1] = sx
    s[2, 1:] = sy
    s[3, :-1] = sy
    return g, s


def _profiles(crop: np.ndarray, cells: np.ndarray, b: int) -> list[np.ndarray]:
    """Mean |dx| and |dy| over ``cells`` (hc, wc) by offset in the cell: two (b,) arrays.

    Offset j is the difference between pixels j and j+1; offset b-1 crosses the grid line.
    """
    hc, wc = cells.shape
    profs = []
    for axis in (1, 0):
        d = np.abs(np.diff(crop, axis=axis, append=np.take(crop, [-1], axis=axis)))
        sel = d.reshape(hc, b, wc, b).swapaxes(1, 2)[cells]  # (n, b, b)
        profs.append(sel.mean(axis=(0, 1) if axis == 1 else (0, 2)))
    return profs


def _grid_ok(profs: list[np.ndarray], b: int, ox: int, oy: int, jpeg: Jpeg | None) -> bool:
    """Whether gradient energy peaks on the grid lines, and only there, both ways.

    Natural periodic patterns (stripes, windows) have other edges inside the period.
    Offsets next to the line (JPEG ringing) and on JPEG block edges are not counted.
    """
    for p, o, jp in zip(profs, (ox, oy), jpeg[:2] if jpeg else (None, None), strict=True):
        keep = np.zeros(b, bool)
        keep[1:b - 2] = True
        if jp is not None:
            keep &= (o + np.arange(b) + 1 - jp) % 8 != 0
        inner = p[keep] if keep.any() else np.zeros(1)
        if p[b - 1] < max(SPIKE_MAX * float(inner.max()), 2.0 * float(np.median(inner)) + 0.5):
            return False
    return True


def _finer_block(profs: list[np.ndarray], b: int, min_block: int) -> int:
    """The smallest divisor d of b whose grid lines inside the b-cells carry steps too."""
    for d in range(min_block, b):
        if b % d == 0 and all((p[d - 1:b - 1:d] >= 0.5 * p[b - 1]).all() for p in profs):
            return d
    return b


def _coarser_grid(s: np.ndarray, comp: np.ndarray, b: int, xa: int, ya: int,
                  max_block: int) -> tuple[int, tuple[int, int]]:
    """(block, origin) of the coarsest grid, a multiple of b, whose lines hold the steps.

    s: (4, hc, wc) side steps of the b-cells; comp: (hc, wc) the region's cells; the cells
    start at pixel (xa, ya). On a grid of b = block / m only every m-th line has steps.
    """
    lines = []
    for side, axis, start in ((1, 1, xa), (3, 0, ya)):
        both = comp & np.roll(comp, -1, axis)  # a cell and its right (lower) neighbour
        steps = np.where(both, np.nan_to_num(s[side]), 0.0)
        lines.append((steps.sum(axis=1 - axis), both.sum(axis=1 - axis), start))
    for m in range(max_block // b, 1, -1):
        phases = []
        for total, count, start in lines:
            idx = (np.arange(len(total)) + 1) % m  # line between cells j and j+1
            num = np.bincount(idx, count, minlength=m)
            if (num < 3).any():
                break
            mean = np.bincount(idx, total, minlength=m) / num
            r = int(mean.argmax())
            if mean[r] < 3 * np.delete(mean, r).max():
                break
            phases.append(int(start + r * b) % (m * b))
        if len(phases) == 2:
            return m * b, (phases[0], phases[1])
    return b, (int(xa) % b, int(ya) % b)


def _same_grid(b1: int, o1: tuple[int, int], b2: int, o2: tuple[int, int]) -> bool:
    """Whether all lines of one grid lie on the other's."""
    d = min(b1, b2)
    return max(b1, b2) % d == 0 and (o1[0] - o2[0]) % d == 0 and (o1[1] - o2[1]) % d == 0


# --- stage 3: the region's edge to the pixel ----------------------------------------------

def _to_cells(a: np.ndarray, b: int) -> np.ndarray:
    """(hc*b, wc*b, ...) -> (hc*wc, b*b, ...): one row per cell."""
    hc, wc = a.shape[0] // b, a.shape[1] // b
    rest = a.shape[2:]
    return a.reshape(hc, b, wc, b, *rest).swapaxes(1, 2).reshape(hc * wc, b * b, *rest)


def _from_cells(a: np.ndarray, hc: int, wc: int, b: int) -> np.ndarray:
    """(hc*wc, b*b) -> (hc*b, wc*b): inverse of :func:`_to_cells`."""
    return a.reshape(hc, wc, b, b).swapaxes(1, 2).reshape(hc * b, wc * b)


def _ycc(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) RGB -> (..., 3) float32 Y, Cb, Cr (JPEG's colour space, without offsets)."""
    m = np.array([[0.299, 0.587, 0.114], [-0.1687, -0.3313, 0.5], [0.5, -0.4187, -0.0813]],
                 np.float32)
    return rgb.astype(np.float32) @ m.T


def _refine(rgb: np.ndarray, comp: np.ndarray, sure: np.ndarray, b: int,
            lossless: bool) -> np.ndarray:
    """Pixel mask (hc*b, wc*b) of the region made of cells ``comp`` (hc, wc).

    rgb: (hc*b, wc*b, 3) the image on these cells; sure: (hc, wc) the seed cells, whose
    spread of values sets the tolerance for lossy images. See the module docstring.
    """
    hc, wc = comp.shape
    k3 = np.ones((3, 3), bool)
    ring = ndi.binary_dilation(comp, k3) & ~comp
    border = comp & ~ndi.binary_erosion(comp, k3, border_value=1)
    beyond = (~comp & ~ring).ravel()
    if lossless:
        q = rgb.astype(np.int64)
        vals = _to_cells(q[..., 0] * 65536 + q[..., 1] * 256 + q[..., 2], b)
    else:
        vals = _to_cells(_ycc(rgb), b)  # (cells, b*b, 3)
    bi = np.nonzero((ring | border).ravel())[0]
    in_ring = ring.ravel()[bi]
    acc = np.zeros((hc * wc, b * b), bool)
    acc[comp.ravel()] = True
    far = np.zeros((hc * wc, b * b), bool)  # clearly not the cell's colour
    amb = np.zeros(hc * wc, bool)
    if len(bi):
        v = vals[bi]
        if lossless:
            match = _exact_colour(v)
            far[bi] = ~match(v)
        else:
            match, far[bi], smooth = _near_colour(v, vals[sure.ravel()])
            amb[bi] |= in_ring & smooth
        acc[bi[in_ring]] = match(v)[in_ring]
        # flat continuation: a cell further out mostly of the same colour
        r, c = np.divmod(bi, wc)
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            ok = (rr >= 0) & (rr < hc) & (cc >= 0) & (cc < wc)
            nb = np.where(ok, rr * wc + cc, 0)
            amb[bi] |= in_ring & ok & beyond[nb] & (match(vals[nb]).mean(axis=1) >= AMB_FLAT)
    far[~border.ravel()] = False
    return _cut(_from_cells(acc, hc, wc, b), comp, _from_cells(far, hc, wc, b),
                np.kron(amb.reshape(hc, wc), np.ones((b, b), bool)), b, lossless)


def _exact_colour(v: np.ndarray):
    """Lossless cells ``v`` (n, b*b): the mosaiced part of a cell is exactly one colour,
    its most common one. Returns ``match(cells) -> (n, b*b) bool``."""
    n = len(v)
    key = v + (np.arange(n) * (1 << 24))[:, None]
    _, inv, cnt = np.unique(key.ravel(), return_inverse=True, return_counts=True)
    mode = v[np.arange(n), np.argmax(cnt[inv].reshape(v.shape), axis=1)]

    def match(cells: np.ndarray) -> np.ndarray:
        return cells == mode[:, None]
    return match


def _near_colour(v: np.ndarray, seeds: np.ndarray):
    """Lossy cells ``v`` (n, b*b, 3) in YCbCr: the most common luma (histogram in bins of
    the tolerance), then its mean chroma; the tolerances come from JPEG's error on the flat
    ``seeds`` cells. Returns (match, pixels clearly not that colour, cells that look like a
    smooth natural part: many pixels just outside the tolerance)."""
    dev = np.abs(seeds - np.median(seeds, axis=1, keepdims=True))
    tol_y = max(1.0, float(np.percentile(dev[..., 0], 90)))
    tol_c = max(2.0, float(np.percentile(dev[..., 1:].max(-1), 90)))
    n = len(v)
    nbin = int(256 / tol_y) + 3
    bins = np.clip((v[..., 0] / tol_y).astype(np.int64), 0, nbin - 1)
    hist = np.bincount((np.arange(n)[:, None] * nbin + bins).ravel(),
                       minlength=n * nbin).reshape(n, nbin)
    hist = hist + np.roll(hist, 1, 1) + np.roll(hist, -1, 1)
    mode_y = (hist.argmax(1) + 0.5) * tol_y
    near = np.abs(v[..., 0] - mode_y[:, None]) <= tol_y
    chroma = (v[..., 1:] * near[..., None]).sum(1) / np.maximum(near.sum(1), 1)[:, None]

    def match(cells: np.ndarray) -> np.ndarray:
        return ((np.abs(cells[..., 0] - mode_y[:, None]) <= tol_y)
                & (np.abs(cells[..., 1:] - chroma[:, None]).max(-1) <= tol_c))

    d = np.abs(v[..., 0] - mode_y[:, None])
    gray = ((d > tol_y) & (d <= 3 * tol_y)).mean(axis=1)
    smooth = (gray > AMB_GRAY) & (gray > 0.5 * (d > tol_y).mean(axis=1))
    far = (d > 3 * tol_y) | (np.abs(v[..., 1:] - chroma[:, None]).max(-1) > 3 * tol_c)
    return match, far, smooth


def _cut(acc: np.ndarray, comp: np.ndarray, far: np.ndarray, ambig: np.ndarray, b: int,
         lossless: bool) -> np.ndarray:
    """The region's pixels from those matching their cell's colour (``acc``), the region's
    cells ``comp``, edge pixels clearly not its colour (``far``) and cells whose cut is
    unknown (``ambig``)."""
    core = np.kron(comp, np.ones((b, b), bool))
    # keep what connects to the region; JPEG ringing may cut a row or two next to its edge
    lab, _ = ndi.label(acc)
    near_core = cv2.dilate(core.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    keep = np.unique(lab[near_core])
    pix = np.isin(lab, keep[keep > 0])
    if not lossless:
        pix |= cv2.morphologyEx(pix.astype(np.uint8), cv2.MORPH_CLOSE,
                                np.ones((5, 5), np.uint8)) > 0
    # an edge cell of the region may be cut too: drop what is clearly not its colour and
    # reaches outside
    lab, _ = ndi.label(far | ~pix)
    pix &= ~(far & np.isin(lab, np.unique(lab[~pix & ~far])))
    if ambig.any():
        # the cut is unknown there: interpolate the mask from the pixels around
        known = (~ambig).astype(np.float32)
        val = (pix & ~ambig).astype(np.float32)
        num = cv2.GaussianBlur(val, (0, 0), b / 2, borderType=cv2.BORDER_REPLICATE)
        den = cv2.GaussianBlur(known, (0, 0), b / 2, borderType=cv2.BORDER_REPLICATE)
        pix = np.where(ambig, pix & (num > 0.5 * np.maximum(den, 1e-6)), pix)
    return ndi.binary_fill_holes(pix)


# --- feathered edges ---------------------------------------------------------------------

FEATHER_MAX = 24  # px: the widest blend band looked for around a region
FEATHER_KEEP = 0.1  # a ring belongs to the band while its grid steps are this share of inside
BAND_SCALE = 1.6
FAR = 6  # px: the ring past FEATHER_MAX that says what the photo's own steps are
SOFT_EDGE = 8  # px


def _with_band(y: np.ndarray, region: MosaicRegion) -> MosaicRegion:
    """The region with the band where its mosaic was blended into the photo (a feathered
    edge): the rings around it, out to where the mosaic's grid steps fade to
    FEATHER_KEEP of their strength inside, join it.

    Not for an integer grid whose cells are not exact (a JPEG of the mosaic): the
    blocking JPEG leaves next to a mosaic's edge fades like a blend (on the lines of a
    block that is a multiple of 8 it is one with the grid), so the feathered edge of such
    a mosaic is not told from it (a known limit; a rescaled mosaic's fractional grid is
    not JPEG's)."""
    if region.grid.is_integer and not region.exact:
        return region
    h, w = y.shape
    x0, y0, bw, bh = region.box
    pad = FEATHER_MAX + FAR + 2
    ya, yb = max(0, y0 - pad), min(h, y0 + bh + pad)
    xa, xb = max(0, x0 - pad), min(w, x0 + bw + pad)
    part = y[ya:yb, xa:xb]
    inside = region.mask[ya:yb, xa:xb]
    dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3)
    dx, dy = np.abs(np.diff(part, axis=1)), np.abs(np.diff(part, axis=0))
    (px, py), (fx, fy) = region.grid.pitch, region.grid.phase
    # grid lines: the differences between pixels i and i + 1 that straddle a cell edge
    on_x = np.zeros(dx.shape[1], bool)
    on_x[np.clip(np.round(np.arange((xa - fx) // px, (xb - fx) // px + 2) * px + fx
                          ).astype(int) - 1 - xa, 0, dx.shape[1] - 1)] = True
    on_y = np.zeros(dy.shape[0], bool)
    on_y[np.clip(np.round(np.arange((ya - fy) // py, (yb - fy) // py + 2) * py + fy
                          ).astype(int) - 1 - ya, 0, dy.shape[0] - 1)] = True

    def excess(ring_x: np.ndarray, ring_y: np.ndarray) -> float:
        """Mean step on grid lines over the mean step off them, in a ring."""
        values = []
        for d, on, ring in ((dx, on_x[None, :], ring_x), (dy, on_y[:, None], ring_y)):
            a, b = d[ring & on], d[ring & ~on]
            if len(a) >= 4 and len(b) >= 4:
                values.append(float(a.mean() - b.mean()))
        return min(values) if values else 0.0

    def rings(lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        ring = (dist > lo) & (dist <= hi)
        return ring[:, 1:] | ring[:, :-1], ring[1:] | ring[:-1]

    # Steps on the grid lines far outside are the photo's own (or JPEG's 8x8 blocks, on
    # the lines of a block that is a multiple of 8): what counts is the excess over them.
    floor = excess(*rings(FEATHER_MAX, FEATHER_MAX + FAR))
    strength = excess(*rings(-1, 0)) - floor  # the region itself (distance 0)
    if strength <= 0:
        return region
    band = 0
    for d in range(1, FEATHER_MAX + 1):
        if excess(*rings(d - 1, d)) - floor < FEATHER_KEEP * strength:
            break
        band = d
    # A rescaled mosaic's edge is as soft as the resampling made every cell edge (a few
    # px when it was enlarged): only a wider band is a blend.
    if band == 0 or (not region.grid.is_integer and band < SOFT_EDGE):
        return region
    # The grid's steps fade faster than the blend itself (the photo's own texture grows
    # under them): measured on feathered mosaics, the blend reaches about BAND_SCALE times
    # as far as the steps can be told from the photo.
    band = round(band * BAND_SCALE)
    grown = region.mask.copy()
    grown[ya:yb, xa:xb] |= dist <= band
    box = bounding_box(grown)
    return MosaicRegion(box, region.grid, grown, region.score, region.exact)
