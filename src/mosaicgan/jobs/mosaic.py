"""The mosaic job: hide regions (a box, a mask, or found: random, CAM, faces, nudity) of
images and videos with a mosaic, a blur or a solid fill. Adding mosaics is always allowed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Box
from ..imageio import read_image_form, read_mask, write_image, write_json, write_like
from ..mosaic import blur_array, mosaic_image, solid_array
from ..options import DEFAULT_VIDEO, STYLES, Log, RegionSpec, VideoOptions
from ..regions.base import Regions
from ..regions.choose import check_one_source, find_regions, given_regions
from ..regions.masks import random_region
from ..video.io import VideoReport, probe, process_video
from ..video.processors import FixedMosaic, TrackedMosaic
from ..video.temporal import RegionTracker
from .batch import BatchReport, metadata, outputs, refuse_deep, run_batch

RegionFn = Callable[[np.ndarray], Any]  # frame -> (H, W) bool, or Regions (its .mask)


def redact(image: np.ndarray, mask: np.ndarray, style: str = "mosaic",
           block: int | None = None) -> np.ndarray:
    """Hide ``mask`` in ``image``: ``mosaic`` (weak: pixelation can be partly undone),
    ``blur`` (stronger) or ``solid`` (black fill: the only one that removes what was there)."""
    if style == "mosaic":
        return mosaic_image(image, mask, block)
    if style == "blur":
        return blur_array(image, mask)
    if style == "solid":
        return solid_array(image, mask)
    raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


def mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path, *, box: Box | None = None,
                 mask: str | Path | None = None, where: str | RegionSpec | None = None,
                 block: int | None = None, style: str = "mosaic", seed: int = 0,
                 regions_dir: str | Path | None = None, video: VideoOptions = DEFAULT_VIDEO,
                 log: Log = print) -> BatchReport:
    """Hide a region of each input image or video (a box, a mask, or regions found by
    ``where``); write each under ``out_dir`` with its own name.

    regions_dir: also write each input's region mask (PNG) and regions (JSON) there, to
    review before anything is trained or published (for a video: every tracked region
    with its frames and the box holding it, and the union of those boxes).
    Videos are streamed (audio copied); regions found per frame are tracked over time.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    spec = RegionSpec(where) if isinstance(where, str) else where
    check_one_source(box, mask, spec)
    mask_path = Path(mask) if mask is not None else None
    pairs = outputs(inputs, out_dir, videos=True)
    index = {src: i for i, (src, _) in enumerate(pairs)}

    def stem(out: Path) -> Path:
        return Path(regions_dir) / out.relative_to(Path(out_dir)).with_suffix("")

    def image_job(src: Path, out: Path) -> None:
        image, form = read_image_form(src)
        refuse_deep(src, form)
        try:
            if spec is not None:
                regions = find_regions(image, spec, rng=np.random.default_rng([seed, index[src]]))
            else:
                m = None if mask_path is None else read_mask(mask_path,
                                                             (image.shape[1], image.shape[0]))
                regions = given_regions(image.shape, box=box, mask=m)
        except ValueError as exc:
            raise InputError(src, str(exc)) from None
        if not regions.mask.any():
            log(f"{src}: no region found; written unchanged")
        write_like(out, redact(image, regions.mask, style, block), form)
        if regions_dir is not None:
            write_image(f"{stem(out)}.png", regions.mask.astype(np.uint8) * 255)
            write_json(f"{stem(out)}.json", regions.to_json())

    def video_job(src: Path, out: Path) -> None:
        if style != "mosaic":
            raise InputError(src, "videos take --style mosaic only")
        if spec is not None and spec.where == "random":
            info = probe(src)
            rng = np.random.default_rng([seed, index[src]])
            done = mosaic_video(src, out, mask=random_region(rng, info.height, info.width)[2],
                                block=block, options=video, log=log)
        elif spec is not None:
            done = mosaic_video(src, out, where=spec, block=block, options=video, log=log)
        else:
            m = None
            if mask_path is not None:
                info = probe(src)
                m = read_mask(mask_path, (info.width, info.height))
            done = mosaic_video(src, out, box=box, mask=m, block=block, options=video, log=log)
        log(done.summary())
        if regions_dir is not None:
            write_image(f"{stem(out)}.png", done.regions_mask())
            write_json(f"{stem(out)}.json", done.regions_json())

    return run_batch(pairs, BatchReport(), log, image_job, video_job)


@dataclass
class MosaicVideoReport(VideoReport):
    """A :class:`VideoReport` plus the regions mosaiced: per track, ``{"frames": [first,
    last], "box": the box holding it in all of them, "count": frames}``."""

    width: int = 0
    height: int = 0
    tracks: dict[int, dict[str, Any]] = field(default_factory=dict)

    def regions_mask(self) -> np.ndarray:
        """``(H, W)`` uint8: 255 inside every tracked region's hull."""
        mask = np.zeros((self.height, self.width), np.uint8)
        for t in self.tracks.values():
            x, y, w, h = t["box"]
            mask[y:y + h, x:x + w] = 255
        return mask

    def regions_json(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "frames": self.frames_written,
                "regions": [{"track": k, **v} for k, v in sorted(self.tracks.items())]}


def mosaic_video(src: str | Path, dst: str | Path, *, box: Box | None = None,
                 mask: np.ndarray | None = None, where: RegionSpec | None = None,
                 region_fn: RegionFn | None = None, block: int | None = None,
                 detect_every: int = 1, stabilise: bool = True, hold: int = 3,
                 options: VideoOptions = DEFAULT_VIDEO, log: Log = print
                 ) -> MosaicVideoReport:
    """Mosaic a video inside a region; audio and everything else copied.

    Exactly one of:
        box: ``(x, y, w, h)`` in display pixels, the same on every frame.
        mask: ``(H, W)`` bool in display orientation, the same on every frame.
        where: regions found on every ``detect_every``-th frame (faces, CAM, nudity).
        region_fn: ``frame (H, W, 3) uint8 -> (H, W) bool`` (or a ``Regions``: its mask
            is used), likewise.
    Found regions are tracked with ``stabilise``: gaps filled, held ``hold`` detections
    after they vanish, covered one detection before they appear, boxes smoothed.

    block: cell size; default about 16 cells across each region.
    options: encoding and range (:class:`~mosaicgan.options.VideoOptions`).
    """
    src = Path(src)
    if where is not None:
        if region_fn is not None:
            raise ValueError("give where or region_fn, not both")
        spec = where

        def region_fn(frame: np.ndarray) -> Regions:
            return find_regions(frame, spec)
    check_one_source(box, mask, region_fn)
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    info = probe(src)
    report = MosaicVideoReport(src, Path(dst), width=info.width, height=info.height)
    processor: FixedMosaic | TrackedMosaic
    if region_fn is None:
        try:
            region = given_regions((info.height, info.width), box=box, mask=mask, what="video")
        except ValueError as exc:
            raise InputError(src, str(exc)) from None
        if not region.mask.any():
            raise InputError(src, "the mask is empty")
        processor = FixedMosaic(region.mask, block, report.tracks)
    else:
        tracker = RegionTracker(hold=hold, detect_every=detect_every) if stabilise else None
        processor = TrackedMosaic(region_fn, block=block, detect_every=detect_every,
                                  tracker=tracker, tracks=report.tracks)
    meta = metadata("mosaic", region="box" if box is not None else
                    "mask" if region_fn is None else "detected per frame")
    process_video(src, dst, processor, options, metadata={"comment": json.dumps(meta)},
                  log=log, report=report)
    return report

