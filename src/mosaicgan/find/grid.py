"""Stage 2 of the search: the cells of one candidate grid.

Each cell's interior roughness and the steps across its sides decide seed cells and
the cells a region grows into; a region must pass the profile test (gradient energy
on the grid line only), and may turn out to be on a finer or coarser grid. See
:mod:`mosaicgan.find.search` for the whole method.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .candidates import Jpeg
from .edge import refine
from .pitch import Roi

# Stage 2: cells. Ratios are of side steps to interior roughness (grey levels).
STEP_EPS = 0.5  # added to the roughness of one cell
TW_SEED = 3.0  # 3x3-cell ratio of a seed cell
TW_GROW = 1.8  # 3x3-cell ratio of a cell the region grows into...
T_OWN = 1.0  # ...if its own ratio reaches this
TW_ENV = 1.6  # 5x5-cell ratio of cells deep inside a region
SPIKE_MAX = 1.6  # profile peak on the grid line over the largest one inside the cell
JPEG_STEP = 4.0  # median step of seed cells on the input's own JPEG grid


def grid_regions(image: np.ndarray, y: np.ndarray, b: int, ox: int, oy: int, roi: Roi,
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
            return grid_regions(image, y, b, ox, oy, full_roi, min_blocks, min_block,
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
        pix = refine(rgb, comp, sure, b, lossless)
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
