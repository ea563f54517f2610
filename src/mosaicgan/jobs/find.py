"""The find-mosaic job: one mask PNG (255 = pixelated) per image, no mask given, from the
default finder (:func:`mosaicgan.find.find_regions`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..find import find_regions
from ..imageio import read_image, write_image
from ..options import DEFAULT_OUTPUT, ClusterOptions, Log, OutputOptions
from .batch import BatchReport, FileJobs, derived_in, plan_batch
from .cluster import run_files


def find_mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path,
                      output: OutputOptions = DEFAULT_OUTPUT,
                      cluster: ClusterOptions | None = None, log: Log = print) -> BatchReport:
    """Write one mask PNG (255 = pixelated) per input, named ``<stem>_mask.png`` under
    out_dir (:mod:`mosaicgan.naming`). cluster: run the batch on Ray workers
    (:mod:`mosaicgan.jobs.cluster`)."""

    def jobs(_report: BatchReport, log: Log) -> FileJobs:
        def job(src: Path, out: Path) -> None:
            finding = find_regions(read_image(src))
            mask = finding.mask
            write_image(out, mask.astype(np.uint8) * 255)
            without = (f" ({len(finding.unrestorable)} area(s) without a grid of cells: "
                       "not restorable)" if finding.unrestorable else "")
            log(f"{src}: {100 * mask.mean():.1f}% pixelated{without} -> {out}")

        return FileJobs(job)

    plan = plan_batch(inputs, out_dir, derived_in(out_dir, "mask"), command="find-mosaic",
                      output=output)
    return run_files(plan, BatchReport(), log, jobs, cluster)


def find_mosaic(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: every mosaic the default finder sees in ``image`` (H, W, 3) uint8,
    restorable or not (:func:`mosaicgan.find.find_regions`)."""
    return find_regions(image).mask
