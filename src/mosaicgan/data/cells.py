"""Training items for the cell-domain restorer, made from clean pictures: a pair folder's
targets, or the images of a plain folder.

Each item is a random crop of a target, mosaiced whole on a grid at the crop's corner (so
the grid's offset against the picture is random): ``a`` its cells (3, n, n) in [0, 1],
``b`` the crop (3, n * scale, n * scale). A share of the mosaics is damaged as mosaics are
on their way to a user (JPEG re-encoded) before their cells are read back as means.

The screen (:mod:`mosaicgan.screening`) judges each target against its whole-crop mosaic:
an item whose target shows a face (or nudity) is left out, whatever the stored pair's
input shows.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..find import block_means
from ..imageio import read_image
from ..mosaic import pixelate_array
from .paired import PairedDataset, PairFiles

JPEG_SHARE = 0.3  # items whose mosaic is JPEG re-encoded before its cells are read
JPEG_QUALITY = (60, 95)
MAX_ZOOM_OUT = 4.0  # a crop covers up to this many times the item's side, shrunk to it


def damaged_cells(image: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, n, 3)`` float32 cells of ``image`` as a restorer meets them: exact means, or
    (a share of items) the means of the mosaic after a JPEG round trip."""
    if rng.random() >= JPEG_SHARE:
        return block_means(image, block)
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    ok, data = cv2.imencode(".jpg", _whole_mosaic(image, block)[..., ::-1],
                            [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG")
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1]
    return block_means(decoded, block)


def _whole_mosaic(image: np.ndarray, block: int) -> np.ndarray:
    """The image mosaiced whole on a grid at (0, 0)."""
    return pixelate_array(image, np.ones(image.shape[:2], bool), block)


class CellDataset(PairedDataset):
    """Crops of ``cells`` x ``cells`` cells of ``scale`` px from a pair folder's targets
    (or a plain folder's images)."""

    screen_kind = "cells"  # its own verdicts: the question differs from a stored pair's

    def __init__(self, root: str | Path, split: str = "train", cells: int = 24,
                 scale: int = 8, augment: bool = True):
        super().__init__(root, split, size=cells * scale, augment=augment)
        self.cells = cells
        self.scale = scale
        # Each item is its target alone: the screen then sees (whole mosaic, target).
        self.items = [PairFiles(it.b or it.a, it.b or it.a, None) for it in self.items]
        self.has_mask = False

    def views(self, index: int, prefilled: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(the target mosaiced whole, the target, an all-set mask): what the screen judges."""
        target = self._target(index)
        h, w = target.shape[:2]
        s = self.scale
        clean = np.ascontiguousarray(target[:h - h % s, :w - w % s])
        return _whole_mosaic(clean, s), clean, np.ones(clean.shape[:2], bool)

    def _target(self, index: int) -> np.ndarray:
        return read_image(self.items[index].b or self.items[index].a)

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng(seed)
        image = self._target(index)
        side = self.cells * self.scale
        h, w = image.shape[:2]
        if min(h, w) < side:
            image = cv2.resize(image, (max(w, side), max(h, side)),
                               interpolation=cv2.INTER_CUBIC)
            h, w = image.shape[:2]
        # A crop of a random size shrunk to the item's: cells of one size then cover
        # detail of many scales (as blocks of many sizes do on pictures of many sizes).
        span = side
        if self.augment:
            most = min(min(h, w) / side, MAX_ZOOM_OUT)
            span = int(side * np.exp(rng.uniform(0, np.log(most)))) if most > 1 else side
            x, y = int(rng.integers(0, w - span + 1)), int(rng.integers(0, h - span + 1))
        else:
            x, y = (w - side) // 2, (h - side) // 2
        crop = image[y:y + span, x:x + span]
        if span != side:
            crop = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        if self.augment:
            if rng.random() < 0.5:
                crop = crop[:, ::-1]
            if rng.random() < 0.5:
                crop = crop.transpose(1, 0, 2)
        crop = np.ascontiguousarray(crop)
        cells = damaged_cells(crop, self.scale, rng) if self.augment else \
            block_means(crop, self.scale)
        return {
            "a": torch.from_numpy(cells).permute(2, 0, 1) / 255,
            "b": torch.from_numpy(crop).permute(2, 0, 1).float() / 255,
            "mask": torch.ones(1, side, side, dtype=torch.bool),
            "path": str(self.items[index].b),
        }
