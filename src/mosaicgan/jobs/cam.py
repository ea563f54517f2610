"""The cam job: where an image classifier sees a class (its Class Activation Map), written
as a heat-map overlay, a region mask and a JSON of the regions, to review before use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imageio import read_image, write_image, write_json
from ..options import DEFAULT_OUTPUT, Log, OutputOptions, RegionSpec
from ..regions.choose import cam_regions
from ..sheets import heatmap_overlay
from .batch import BatchReport, derived_in, plan_batch, run_batch


def cam_files(inputs: Iterable[str | Path], out_dir: str | Path, spec: RegionSpec,
              output: OutputOptions = DEFAULT_OUTPUT, log: Log = print) -> BatchReport:
    """Per image: ``<stem>_cam.png`` (heat map), ``<stem>_cam_mask.png`` and
    ``<stem>_cam.json`` (class, probability and regions: box, area, peak)."""

    def job(src: Path, out: Path) -> Path:
        image = read_image(src)
        try:
            cam, regions = cam_regions(image, spec)
        except ValueError as exc:
            raise InputError(src, str(exc)) from None
        mask_file, json_file = plan.extra(src)
        overlay = write_image(out, heatmap_overlay(image, cam.heatmap))
        write_image(mask_file, regions.mask.astype(np.uint8) * 255)
        write_json(json_file, {"image": str(src), **cam.to_json(), **regions.to_json()})
        log(f"{src}: {cam.class_name} (p {cam.probability:.2f}), {len(regions)} region(s)")
        return overlay

    plan = plan_batch(inputs, out_dir, derived_in(out_dir, "cam_overlay", "cam_mask", "cam_json"),
                      command="cam", output=output)
    return run_batch(plan, BatchReport(), log, job)
