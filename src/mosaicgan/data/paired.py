"""Paired datasets for pix2pix: mosaicgan's pair folders and pix2pix's aligned ``A|B`` files.

Items are dicts: ``a`` (3, H, W) float in [0, 1] (the input), ``b`` (3, H, W) (the
target), ``mask`` (1, H, W) bool (the region to restore; all set when the dataset has no
masks), ``path`` (str). Augmentation is sampled once per item from the seed the sampler
passes with the index, and applied to both sides alike (so a run is reproducible and
resumable from its step alone).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..baselines import bicubic_from_blocks
from ..errors import InputError
from ..imageio import read_image, read_mask
from ..walk import list_images

PAIRS_FILE = "pairs.jsonl"
DIRECTIONS = ("AtoB", "BtoA")


@dataclass(frozen=True)
class PairFiles:
    a: Path  # input (mosaic, or A of an aligned file)
    b: Path | None  # target (None: the right half of ``a``)
    mask: Path | None
    swap: bool = False  # aligned BtoA
    grid: tuple[int, tuple[int, int]] | None = None  # the mosaic's (block, origin), if known


def _resize(img: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize an (H, W[, 3]) uint8 array to size = (w, h)."""
    if (img.shape[1], img.shape[0]) == size:
        return img
    resample = Image.NEAREST if nearest else Image.BICUBIC
    return np.asarray(Image.fromarray(img).resize(size, resample))


def split_dir(root: Path, split: str) -> Path:
    return root / split if (root / split).is_dir() else root


def is_pairs_dir(folder: Path) -> bool:
    return (folder / PAIRS_FILE).is_file()


class PairedDataset(Dataset):
    """Read a pair folder (``pairs.jsonl`` + PNGs) or aligned ``A|B`` images.

    Args:
        root: a dataset folder; its ``split`` subfolder is used when it exists.
        size: side of the square items.
        direction: for aligned files, ``AtoB`` (left half is the input) or ``BtoA``.
        augment: random flip (and for aligned files, the pix2pix resize-to-286/256 then
            random crop); False for evaluation and samples.
        prefill: ``"bicubic"``: the input's mosaic cells are replaced by a bicubic
            interpolation of their means (pairs record each mosaic's grid), as
            :class:`~mosaicgan.restore.Restorer` does for a model trained so.
    """

    # What the safety screen's cached verdicts are of (a subclass that judges its items
    # otherwise than as stored names its own kind).
    screen_kind = "pair"

    def __init__(self, root: str | Path, split: str = "train", size: int = 256,
                 direction: str = "AtoB", augment: bool = True, prefill: str = "none"):
        if direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {direction!r}; choose AtoB or BtoA")
        self.root = Path(root)
        self.folder = split_dir(self.root, split)
        self.size = size
        self.augment = augment
        self.prefill = prefill
        if not self.folder.is_dir():
            raise InputError(self.folder, "no such dataset folder")
        if is_pairs_dir(self.folder):
            self.items = self._read_pairs_file(self.folder)
            self.has_mask = True
        else:
            self.items = [PairFiles(p, None, None, direction == "BtoA")
                          for p in list_images([self.folder])]
            self.has_mask = False
        if not self.items:
            raise InputError(self.folder, "dataset holds no pairs")

    @staticmethod
    def _read_pairs_file(folder: Path) -> list[PairFiles]:
        items = []
        path = folder / PAIRS_FILE
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                grid = None
                if row.get("block") and row.get("origin"):
                    grid = (int(row["block"]), (int(row["origin"][0]), int(row["origin"][1])))
                items.append(PairFiles(folder / row["mosaic"], folder / row["clean"],
                                       folder / row["mask"], grid=grid))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError):
                raise InputError(path, f"line {n} is not a pair record "
                                       "(needs clean, mosaic, mask)") from None
        return items

    def __len__(self) -> int:
        return len(self.items)

    def image_files(self) -> list[Path]:
        """Every image file the dataset reads (for the safety screen)."""
        return [p for it in self.items for p in (it.a, it.b) if p is not None]

    def read_views(self, path: Path) -> list[np.ndarray]:
        """The images in a file: an aligned A|B file holds two."""
        image = read_image(path)
        if self.has_mask or image.shape[1] < 2:
            return [image]
        half = image.shape[1] // 2
        return [image[:, :half], image[:, half:]]

    def exclude_files(self, paths: set[Path]) -> None:
        """Leave out items that read any of these files (e.g. refused by the safety screen)."""
        self.items = [it for it in self.items if it.a not in paths and it.b not in paths]

    def item_name(self, item: PairFiles) -> str:
        """How the safety screen names a pair: its input file (and target, if another)."""
        return str(item.a) if item.b is None else f"{item.a} -> {item.b.name}"

    def leave_out(self, items: list[PairFiles]) -> None:
        """Leave out these pairs (refused by the safety screen)."""
        gone = set(items)
        self.items = [it for it in self.items if it not in gone]

    def views(self, index: int, prefilled: bool = True
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(input, target, mask) as stored: (H, W, 3) uint8, (H, W, 3) uint8, (H, W) bool.

        prefilled: the input as the generator sees it (``prefill``); False: as stored (what
        the safety screen judges)."""
        it = self.items[index]
        a = read_image(it.a)
        if it.b is None:
            if a.shape[1] % 2:
                raise InputError(it.a, f"aligned A|B image has odd width {a.shape[1]}")
            half = a.shape[1] // 2
            a, b = a[:, :half], a[:, half:]
            if it.swap:
                a, b = b, a
        else:
            b = read_image(it.b)
            if b.shape != a.shape:
                raise InputError(it.b, f"target is {b.shape[1]}x{b.shape[0]}, "
                                       f"input is {a.shape[1]}x{a.shape[0]}")
        if it.mask is None:
            mask = np.ones(a.shape[:2], bool)
        else:
            mask = read_mask(it.mask, (a.shape[1], a.shape[0]))
        if prefilled and self.prefill == "bicubic" and it.grid is not None:
            a = bicubic_from_blocks(a, mask, *it.grid)
        return np.ascontiguousarray(a), np.ascontiguousarray(b), mask

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        a, b, mask = self.views(index)
        s = self.size
        rng = np.random.default_rng(seed)
        if self.augment and not self.has_mask:
            load = round(s * 286 / 256)  # pix2pix: resize to 286, random crop 256
            a, b = _resize(a, (load, load)), _resize(b, (load, load))
            mask = _resize(mask.astype(np.uint8), (load, load), nearest=True) > 0
            x, y = rng.integers(0, load - s + 1, size=2)
            a, b, mask = a[y:y + s, x:x + s], b[y:y + s, x:x + s], mask[y:y + s, x:x + s]
        else:
            a, b = _resize(a, (s, s)), _resize(b, (s, s))
            mask = _resize(mask.astype(np.uint8), (s, s), nearest=True) > 0
        if self.augment and rng.random() < 0.5:
            a, b, mask = a[:, ::-1], b[:, ::-1], mask[:, ::-1]
        return {
            "a": torch.from_numpy(a.copy()).permute(2, 0, 1).float() / 255,
            "b": torch.from_numpy(b.copy()).permute(2, 0, 1).float() / 255,
            "mask": torch.from_numpy(mask.copy())[None],
            "path": str(self.items[index].a),
        }
