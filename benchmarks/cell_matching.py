"""What matching the mosaic's cell colours (mosaicgan.find.cells) does to each method's quality.

    .venv/bin/python benchmarks/cell_matching.py PHOTOS_DIR [--count 20] [--blocks 8,12,16]
        [--model default|RUN|MODEL.json ...]

Mosaics the photos as `mosaicgan eval` does (same regions, same seed), then measures
in-mask PSNR / SSIM of bicubic interpolation and of each model, with and without the
cell matching (models: Restorer's ``match_cells``). The project's shared detector is
replaced here by one that sees nothing (the internal hook the tests use): this measures
pixels, it writes no image.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import table

from mosaicgan.baselines import bicubic_from_blocks
from mosaicgan.detect import shared
from mosaicgan.find import CellGrid, match_cell_means
from mosaicgan.jobs.evaluate import make_samples
from mosaicgan.metrics import masked_psnr, masked_ssim
from mosaicgan.models.restorer import Restorer
from mosaicgan.models.shipped import default_model
from mosaicgan.walk import list_images


class SeesNothing:
    def detect(self, image: np.ndarray) -> list:
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos")
    parser.add_argument("--count", type=int, default=20, help="the first N photos")
    parser.add_argument("--blocks", default="8,12,16")
    parser.add_argument("--model", action="append", default=None,
                        help="default, a run folder or a model JSON (repeat for several)")
    args = parser.parse_args()
    shared._detector = SeesNothing()
    models = {}
    for spec in args.model or ["default"]:
        path = default_model() if spec == "default" else spec
        for matched in (False, True):
            models[f"{spec}{' + cells' if matched else ''}"] = Restorer.from_checkpoint(
                path, "cpu", match_cells=matched)
    photos = list_images([args.photos])[:args.count]
    blocks = [int(b) for b in args.blocks.split(",")]
    samples, _ = make_samples(photos, blocks, 2, 0, log=lambda _: None)
    scores: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for s in samples:
        bicubic = bicubic_from_blocks(s.mosaic, s.mask, s.block, s.origin)
        outputs = {"mosaic": s.mosaic, "bicubic": bicubic,
                   "bicubic + cells": match_cell_means(bicubic, s.mosaic, s.mask, s.block,
                                                       s.origin)}
        for name, restorer in models.items():
            grid = CellGrid.integer_grid(s.block, s.origin)
            outputs[name] = restorer.restore(s.mosaic, s.mask, [(s.mask, grid)]).image
        for name, out in outputs.items():
            scores.setdefault((name, s.block), []).append(
                (masked_psnr(out, s.clean, s.mask), masked_ssim(out, s.clean, s.mask)))
    names = list(dict.fromkeys(name for name, _ in scores))
    rows = []
    for name in names:
        row = [name]
        for block in blocks:
            v = np.array(scores[(name, block)])
            row.append(f"{v[:, 0].mean():.2f} / {v[:, 1].mean():.3f}")
        rows.append(row)
    print(f"{len(photos)} photos of {args.photos}, {len(samples) // len(blocks)} regions per "
          "block; in-mask PSNR dB / SSIM")
    print(table(["method"] + [f"block {b}" for b in blocks], rows))


if __name__ == "__main__":
    main()
