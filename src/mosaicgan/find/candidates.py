"""Stage 1 of the search: candidate grids from the periodicity of the gradients.

For every block size, windows whose luma differences pile up on one phase in both
directions vote for a grid (:func:`candidate_grids`); a JPEG input's own 8x8 block
grid is found first (:func:`jpeg_phase`) and its energy discounted. See
:mod:`mosaicgan.find.search` for the whole method.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .pitch import Roi

Jpeg = tuple[int, int, float, float]  # JPEG block grid: phase x, y; extra energy x, y

# Stage 1: voting for grids.
VOTE_MIN = 0.3  # comb score a window needs to vote
COMB_FLOOR = 1.5  # grey levels: keeps faint, noisy windows from voting
TOP_GRIDS = 12  # candidate grids examined


def candidate_grids(y: np.ndarray, min_block: int, max_block: int, jpeg: Jpeg | None,
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


def jpeg_phase(y: np.ndarray, tile: int = 64) -> Jpeg | None:
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
