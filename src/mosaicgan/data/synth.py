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


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int,
                max_zoom_out: float) -> tuple[np.ndarray, dict[str, Any]]:
    """Scale the photo so its short side lies in [size, max_zoom_out * size] (never below
    size), then cut a random size x size crop. Returns the crop and what was done."""
    h, w = photo.shape[:2]
    short = min(h, w)
    target = rng.uniform(size, max(size, min(short, max_zoom_out * size)))
    scale = target / short
    if abs(scale - 1.0) > 1e-6:
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        photo = cv2.resize(photo, new, interpolation=cv2.INTER_AREA if scale < 1
                           else cv2.INTER_CUBIC)
    h, w = photo.shape[:2]
    x, y = int(rng.integers(0, w - size + 1)), int(rng.integers(0, h - size + 1))
    return photo[y:y + size, x:x + size].copy(), {"scale": round(scale, 6), "crop": [x, y, size]}


def make_pair(photo: np.ndarray, rng: np.random.Generator, spec: PairSpec = PairSpec()) -> Pair:
    """One training pair from an ``(H, W, 3)`` uint8 photo."""
    clean, params = random_crop(photo, rng, spec.size, spec.max_zoom_out)
    shape, box, mask = random_region(rng, spec.size, spec.size, spec.area)
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
