"""The find-mosaic job: one mask PNG (255 = pixelated) per image, no mask given."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..find_mosaic import find_mosaic
from ..imageio import read_image, write_image
from ..options import Log
from .batch import BatchReport, outputs, run_batch


def find_mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path,
                      log: Log = print) -> BatchReport:
    """Write one mask PNG (255 = pixelated) per input, named ``<stem>.png`` under out_dir."""

    def job(src: Path, out: Path) -> None:
        mask = find_mosaic(read_image(src))
        write_image(out, mask.astype(np.uint8) * 255)
        log(f"{src}: {100 * mask.mean():.1f}% pixelated -> {out}")

    return run_batch(outputs(inputs, out_dir, suffix=".png"), BatchReport(), log, job)
