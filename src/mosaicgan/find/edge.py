"""Stage 3 of the search: a region's edge to the pixel.

Cells cut by the region's edge are mosaiced only on the region's side, in one colour:
in the ring of cells around a region, the pixels of each cell's colour (exactly, or
within JPEG's spread) that connect to it join it, and clearly foreign pixels leave its
own edge cells; where the cut cannot be seen, the mask is interpolated. See
:mod:`mosaicgan.find.search` (stage 3) for the whole method.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

# Stage 3: pixels.
AMB_GRAY = 0.05  # share of a cell's pixels just outside the tolerance: a smooth blend
AMB_FLAT = 0.3  # share of the next cell out in the colour of the cut one: a flat area


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


def refine(rgb: np.ndarray, comp: np.ndarray, sure: np.ndarray, b: int,
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
