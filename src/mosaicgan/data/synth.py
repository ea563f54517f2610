"""Synthetic training pairs: a random crop of a clean photo, mosaiced in a random region.

Pure array code (no files): the same generator state gives the same pair, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from ..imageio import encode_jpeg
from ..mosaic import pixelate_array
from ..regions.masks import random_region


@dataclass(frozen=True)
class PairSpec:
    """How pairs are drawn. Defaults suit 256 px crops."""

    size: int = 256
    block: tuple[int, int] = (6, 24)  # block size range, inclusive
    area: tuple[float, float] = (0.05, 0.40)  # region area as a fraction of the crop
    jpeg_probability: float = 0.3
    jpeg_quality: tuple[int, int] = (60, 95)
    max_zoom_out: float = 3.0  # the photo's short side is scaled to [1, this] x size


@dataclass
class Pair:
    clean: np.ndarray  # (size, size, 3) uint8
    mosaic: np.ndarray  # (size, size, 3) uint8
    mask: np.ndarray  # (size, size) bool
    params: dict[str, Any] = field(default_factory=dict)


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int, max_zoom_out: float,
                region: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    """Scale the photo so its short side lies in [size, max_zoom_out * size] (never below
    size), then cut a random size x size crop; with a ``region`` (the photo's (H, W) bool
    mask), scale it alike and place the crop over the region's centre.

    Returns the crop, the region's crop (or None) and what was done.
    """
    h, w = photo.shape[:2]
    short = min(h, w)
    target = rng.uniform(size, max(size, min(short, max_zoom_out * size)))
    scale = target / short
    if abs(scale - 1.0) > 1e-6:
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        photo = cv2.resize(photo, new, interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_CUBIC)
        if region is not None:
            region = cv2.resize(region.astype(np.uint8), new,
                                interpolation=cv2.INTER_NEAREST) > 0
    h, w = photo.shape[:2]
    if region is None or not region.any():
        x, y = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
    else:
        ys, xs = np.nonzero(region)
        cx, cy = (xs.min() + xs.max()) // 2, (ys.min() + ys.max()) // 2
        # Any crop that keeps the centre at least a quarter of the crop from its edges.
        lo_x, hi_x = max(0, cx - 3 * size // 4), min(w - size, cx - size // 4)
        lo_y, hi_y = max(0, cy - 3 * size // 4), min(h - size, cy - size // 4)
        x = int(rng.integers(lo_x, max(lo_x, hi_x) + 1))
        y = int(rng.integers(lo_y, max(lo_y, hi_y) + 1))
    crop_region = None if region is None else region[y:y + size, x:x + size].copy()
    return (photo[y:y + size, x:x + size].copy(), crop_region,
            {"scale": round(scale, 6), "crop": [x, y, size]})


def make_pair(photo: np.ndarray, rng: np.random.Generator, spec: PairSpec = PairSpec(),
              region: np.ndarray | None = None) -> Pair | None:
    """One training pair from an ``(H, W, 3)`` uint8 photo.

    region: the photo's (H, W) bool mask of where to mosaic (e.g. from a CAM); default a
    random rectangle or ellipse. Returns None when the crop holds too little of the region.
    """
    clean, crop_region, params = random_crop(photo, rng, spec.size, spec.max_zoom_out, region)
    if crop_region is None:
        shape, box, mask = random_region(rng, spec.size, spec.size, spec.area)
    else:
        if crop_region.mean() < spec.area[0] / 2:
            return None
        shape, mask = "region", crop_region
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
               int(ys.max() - ys.min() + 1))
    # Keep at least 3 blocks across the region's short side.
    top = max(spec.block[0], min(spec.block[1], min(box[2], box[3]) // 3))
    block = int(rng.integers(spec.block[0], top + 1))
    origin = (box[0] + int(rng.integers(0, block)), box[1] + int(rng.integers(0, block)))
    mosaic = pixelate_array(clean, mask, block, origin)
    quality = None
    if rng.random() < spec.jpeg_probability:
        quality = int(rng.integers(spec.jpeg_quality[0], spec.jpeg_quality[1] + 1))
        mosaic = encode_jpeg(mosaic, quality)
    params.update(shape=shape, box=list(box), block=block, origin=list(origin), jpeg=quality)
    return Pair(clean, mosaic, mask, params)
