"""Feathered edges: the band where a blended mosaic fades into the photo joins its region.

See :mod:`mosaicgan.find.search` (stage 5) for the whole method.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import bounding_box
from .region import MosaicRegion

FEATHER_MAX = 24  # px: the widest blend band looked for around a region
FEATHER_KEEP = 0.1  # a ring belongs to the band while its grid steps are this share of inside
BAND_SCALE = 1.6
FAR = 6  # px: the ring past FEATHER_MAX that says what the photo's own steps are
SOFT_EDGE = 8  # px


def with_band(y: np.ndarray, region: MosaicRegion) -> MosaicRegion:
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
