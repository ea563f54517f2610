"""The find-mosaic job: one mask PNG (255 = pixelated) per image, no mask given."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..find import find_mosaic
from ..imageio import read_image, write_image
from ..options import DEFAULT_OUTPUT, Log, OutputOptions
from .batch import BatchReport, derived_in, plan_batch, run_batch


def find_mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path,
                      output: OutputOptions = DEFAULT_OUTPUT, log: Log = print) -> BatchReport:
    """Write one mask PNG (255 = pixelated) per input, named ``<stem>_mask.png`` under
    out_dir (:mod:`mosaicgan.naming`)."""

    def job(src: Path, out: Path) -> None:
        mask = find_mosaic(read_image(src))
        write_image(out, mask.astype(np.uint8) * 255)
        log(f"{src}: {100 * mask.mean():.1f}% pixelated -> {out}")

    plan = plan_batch(inputs, out_dir, derived_in(out_dir, "mask"), command="find-mosaic",
                      output=output)
    return run_batch(plan, BatchReport(), log, job)
