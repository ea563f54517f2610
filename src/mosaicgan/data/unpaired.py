"""Unpaired data for CycleGAN: two folders of images, domain A and domain B.

Layout: CycleGAN's ``trainA/``, ``trainB/`` (optional ``testA/``, ``testB/``), or any two
folders. Items: ``a`` and ``b`` (3, H, W) float in [0, 1], ``path``. The B image is drawn
at random (from the item's seed), as in the reference code, so the pairing carries no
meaning. Augmentation: resize to 286/256 of the size, random crop, random flip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..errors import InputError
from ..imageio import read_image
from ..walk import list_images


def _prepare(image: np.ndarray, size: int, rng: np.random.Generator | None) -> torch.Tensor:
    """Resize (and with rng: crop and flip) to (3, size, size) float in [0, 1]."""
    if rng is None:
        out = np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
    else:
        load = round(size * 286 / 256)
        big = np.asarray(Image.fromarray(image).resize((load, load), Image.BICUBIC))
        x, y = rng.integers(0, load - size + 1, size=2)
        out = big[y:y + size, x:x + size]
        if rng.random() < 0.5:
            out = out[:, ::-1]
    return torch.from_numpy(out.copy()).permute(2, 0, 1).float() / 255


def domain_folders(root: str | Path | None, split: str = "train",
                   a: str | Path | None = None, b: str | Path | None = None) -> tuple[Path, Path]:
    """The A and B folders: given directly, or ``root/<split>A`` and ``root/<split>B``."""
    if a is not None and b is not None:
        return Path(a), Path(b)
    if root is None:
        raise InputError(None, "give a dataset folder (with trainA/, trainB/) or both --a and --b")
    root = Path(root)
    fa, fb = root / f"{split}A", root / f"{split}B"
    for folder in (fa, fb):
        if not folder.is_dir():
            raise InputError(folder, f"missing: an unpaired dataset needs {split}A/ and "
                                     f"{split}B/ (or give --a DIR --b DIR)")
    return fa, fb


class UnpairedDataset(Dataset):
    """Images of domain A with random partners from domain B."""

    def __init__(self, folder_a: str | Path, folder_b: str | Path, size: int = 256,
                 augment: bool = True):
        self.files_a = list_images([folder_a])
        self.files_b = list_images([folder_b])
        self.size = size
        self.augment = augment

    def __len__(self) -> int:
        # Either domain empty (e.g. all left out by the safety screen): nothing to train on.
        if not self.files_a or not self.files_b:
            return 0
        return max(len(self.files_a), len(self.files_b))

    def image_files(self) -> list[Path]:
        return self.files_a + self.files_b

    def read_views(self, path: Path) -> list[np.ndarray]:
        return [read_image(path)]

    def exclude_files(self, paths: set[Path]) -> None:
        self.files_a = [p for p in self.files_a if p not in paths]
        self.files_b = [p for p in self.files_b if p not in paths]

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng(seed)
        pa = self.files_a[index % len(self.files_a)]
        pb = self.files_b[int(rng.integers(len(self.files_b)))] if self.augment else \
            self.files_b[index % len(self.files_b)]
        aug = rng if self.augment else None
        return {"a": _prepare(read_image(pa), self.size, aug),
                "b": _prepare(read_image(pb), self.size, aug), "path": str(pa)}
