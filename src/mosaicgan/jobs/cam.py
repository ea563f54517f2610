"""The cam job: where an image classifier sees a class (its Class Activation Map), written
as a heat-map overlay, a region mask and a JSON of the regions, to review before use."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..imageio import read_image, write_image, write_json
from ..options import Log, RegionSpec
from ..regions.choose import cam_regions
from ..sheets import heatmap_overlay
from .batch import BatchReport, outputs, run_batch


def cam_files(inputs: Iterable[str | Path], out_dir: str | Path, spec: RegionSpec,
              log: Log = print) -> BatchReport:
    """Per image: ``<stem>_overlay.png`` (heat map), ``<stem>_mask.png`` and ``<stem>.json``
    (class, probability and regions: box, area, peak)."""

    def job(src: Path, out: Path) -> Path:
        image = read_image(src)
        try:
            cam, regions = cam_regions(image, spec)
        except ValueError as exc:
            raise InputError(src, str(exc)) from None
        stem = out.with_suffix("")
        overlay = write_image(f"{stem}_overlay.png", heatmap_overlay(image, cam.heatmap))
        write_image(f"{stem}_mask.png", regions.mask.astype(np.uint8) * 255)
        write_json(f"{stem}.json", {"image": str(src), **cam.to_json(), **regions.to_json()})
        log(f"{src}: {cam.class_name} (p {cam.probability:.2f}), {len(regions)} region(s)")
        return overlay

    return run_batch(outputs(inputs, out_dir, suffix=".png"), BatchReport(), log, job)
