"""Restoring mosaics that were rescaled after they were made: PSNR inside the mask.

    .venv/bin/python benchmarks/restore_damage.py PHOTOS [--count 20] [--seed 0]
        [--model default]

For each photo (downscaled to at most 1024 px), a random rectangle or ellipse is
mosaiced at a block of 8-20 px with a random grid origin; the mosaiced photo (and the
clean one, for the truth) is then rescaled by a factor drawn from 0.5-0.95 (INTER_AREA)
or 1.1-2.0 (bicubic), as on the way to a user. find-mosaic finds the mosaics (their
fractional grids) and each method fills them in:

- **mosaic**: left as it is;
- **bicubic**: bicubic interpolation of the cell means on the grid found (the baseline);
- **model**: the restorer (``--model``, the shipped one by default), which resamples each
  window so the pitch is a block it was trained on, restores and warps back.

PSNR is measured over the pixels both inside the true mask and found (what a method was
asked to fill), against the rescaled clean photo; the same rows for the undamaged
mosaics say what rescaling costs. The safety gate is replaced by a detector that sees
nothing here: CBSD68 has faces, and a region the gate keeps mosaiced would measure the
gate, not the restorer (the gate has its own benchmark, ``face_recall.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np

from mosaicgan.baselines import bicubic_on_grid
from mosaicgan.detect import shared
from mosaicgan.find import find_mosaic_regions, regions_mask
from mosaicgan.metrics import masked_psnr
from mosaicgan.models.restorer import load_restorer
from mosaicgan.mosaic import pixelate_array

sys.path.insert(0, os.path.dirname(__file__))
from common import machine_line, table
from find_mosaic_iou import folder_photos, random_case, rescale


class _SeesNothing:
    def detect(self, image: np.ndarray) -> list:
        return []


def case(name: str, image: np.ndarray, seed: int, damaged: bool):
    """(mosaiced input, clean truth, true mask, block, factor) for one photo."""
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 300])
    block = int(rng.integers(8, 21))
    mask, origin = random_case(rng, image, block)
    mosaic = pixelate_array(image, mask, block, origin)
    factor = float(rng.uniform(0.5, 0.95)) if rng.random() < 0.5 \
        else float(rng.uniform(1.1, 2.0))
    if not damaged:
        return mosaic, image, mask, block, 1.0
    damaged_mosaic, truth = rescale(mosaic, mask, factor)
    clean, _ = rescale(image, mask, factor)
    return damaged_mosaic, clean, truth, block, factor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--count", type=int, default=20, help="photos used (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    shared._detector = _SeesNothing()
    restorer = load_restorer(args.model, device="cpu")
    photos = dict(list(folder_photos(args.photos).items())[:args.count])
    rows = []
    for damaged in (False, True):
        psnr: dict[str, list[float]] = {"mosaic": [], "bicubic": [], "model": []}
        missed, seconds = 0, []
        for name, image in photos.items():
            mosaiced, clean, truth, _, _ = case(name, image, args.seed, damaged)
            regions = find_mosaic_regions(mosaiced)
            found = regions_mask(regions, mosaiced.shape)
            judged = truth & found
            if judged.sum() < 0.5 * truth.sum():
                missed += 1  # not found: every method leaves it as it is
                continue
            start = time.perf_counter()
            restored = restorer.restore(mosaiced, found, [(r.mask, r.grid) for r in regions])
            seconds.append(time.perf_counter() - start)
            bicubic = mosaiced
            for r in regions:
                bicubic = bicubic_on_grid(bicubic, r.mask, r.grid)
            for method, out in (("mosaic", mosaiced), ("bicubic", bicubic),
                                ("model", restored.image)):
                psnr[method].append(masked_psnr(out, clean, judged))
        base = np.mean(psnr["bicubic"])
        for method, values in psnr.items():
            rows.append(["rescaled 0.5-0.95 / 1.1-2.0" if damaged else "none", method,
                         f"{np.mean(values):.2f}", f"{np.mean(values) - base:+.2f}",
                         len(values), missed, f"{np.mean(seconds):.2f}"
                         if method == "model" else "-"])
    print(machine_line())
    print(f"{len(photos)} photos from {args.photos}, seed {args.seed}, model {args.model}, "
          "block 8-20")
    print(table(["damage", "method", "PSNR in mask dB", "vs bicubic", "n", "not found",
                 "restore s"], rows))


if __name__ == "__main__":
    main()
