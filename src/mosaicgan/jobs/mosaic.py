"""The mosaic job: hide regions (a box, a mask, or found: random, CAM, faces, nudity) of
images and videos with a mosaic, a blur or a solid fill. Adding mosaics is always allowed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Box
from ..imagefile import read_document, write_document
from ..imageio import read_mask, write_image, write_json
from ..mosaic import blur_array, mosaic_image, solid_array
from ..options import (
    DEFAULT_OUTPUT,
    DEFAULT_VIDEO,
    DETECT_EVERY,
    ClusterOptions,
    Log,
    OutputOptions,
    RegionSpec,
    VideoOptions,
    check_style,
)
from ..regions.base import Regions
from ..regions.choose import check_one_source, find_regions, given_regions
from ..regions.masks import random_region
from ..regions.strength import face_block, face_sigma, redact_faces
from ..video.chunks import ChunkResult, VideoJob, chunk_path, video_settings
from ..video.hiding import FixedMosaic, TrackedMosaic
from ..video.io import Chunk, VideoReport, probe, process_video
from ..video.temporal import RegionTracker, Watch
from .batch import (
    BatchReport,
    FileJobs,
    both,
    derived_in,
    in_folder,
    metadata,
    plan_batch,
    refuse_deep,
)
from .cluster import run_files

RegionFn = Callable[[np.ndarray], Any]  # frame -> (H, W) bool, or Regions (its .mask)


def redact(image: np.ndarray, mask: np.ndarray, style: str = "mosaic",
           block: int | None = None) -> np.ndarray:
    """Hide ``mask`` in ``image``: ``mosaic`` (weak: pixelation can be partly undone),
    ``blur`` (stronger) or ``solid`` (black fill: the only one that removes what was there)."""
    check_style(style)
    if style == "mosaic":
        return mosaic_image(image, mask, block)
    if style == "blur":
        return blur_array(image, mask)
    return solid_array(image, mask)


def mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path, *, box: Box | None = None,
                 mask: str | Path | None = None, where: str | RegionSpec | None = None,
                 block: int | None = None, style: str = "mosaic", seed: int = 0,
                 regions_dir: str | Path | None = None, video: VideoOptions = DEFAULT_VIDEO,
                 detect_every: int = DETECT_EVERY, output: OutputOptions = DEFAULT_OUTPUT,
                 cluster: ClusterOptions | None = None, log: Log = print) -> BatchReport:
    """Hide a region of each input image or video (a box, a mask, or regions found by
    ``where``); write each under ``out_dir`` with its own name.

    regions_dir: also write each input's region mask (PNG) and regions (JSON) there, to
    review before anything is trained or published (for a video: every tracked region
    with its frames and the box holding it, and the union of those boxes).
    Videos are streamed (audio copied); regions found per frame are tracked over time
    (``detect_every``: found on every N-th frame only, the frames between covered by the
    tracker, see :func:`mosaic_video`).
    cluster: run the batch on Ray workers (:mod:`mosaicgan.jobs.cluster`).
    """
    if detect_every < 1:
        raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    check_style(style)
    spec = RegionSpec(where) if isinstance(where, str) else where
    check_one_source(box, mask, spec)
    mask_path = Path(mask) if mask is not None else None
    names = in_folder(out_dir, "mosaic")
    if regions_dir is not None:
        names = both(names, derived_in(regions_dir, "regions", "regions_json"))
    plan = plan_batch(inputs, out_dir, names, command="mosaic", output=output, videos=True,
                      also_out=[] if regions_dir is None else [regions_dir])
    index = plan.order

    def jobs(report: BatchReport, log: Log) -> FileJobs:
        # Built once per process: here, or on each --cluster worker.
        def image_job(src: Path, out: Path) -> None:
            doc = read_document(src)
            for form in doc.forms:
                refuse_deep(src, form)
            found: list[Regions] = []
            once: dict[tuple[int, ...], Regions] = {}  # a box, mask or random region per size
            try:
                for image in doc.frames:
                    if spec is not None and spec.where != "random":
                        found.append(find_regions(image, spec))
                        continue
                    if image.shape not in once:
                        if spec is not None:
                            rng = np.random.default_rng([seed, index[src]])
                            once[image.shape] = find_regions(image, spec, rng=rng)
                        else:
                            m = None if mask_path is None else read_mask(
                                mask_path, (image.shape[1], image.shape[0]))
                            once[image.shape] = given_regions(image.shape, box=box, mask=m)
                    found.append(once[image.shape])
            except ValueError as exc:
                raise InputError(src, str(exc)) from None
            if doc.animated and spec is not None and spec.where != "random":
                # A detector that misses a face in one frame must not leak it: each frame also
                # hides what was found in the frames next to it.
                found = _with_neighbours(found)
            if not any(r.mask.any() for r in found):
                log(f"{src}: no region found; written unchanged")
            hidden = []
            for image, regions in zip(doc.frames, found, strict=True):
                if spec is not None and spec.where == "face":  # the block/blur scale with each face
                    hidden.append(redact_faces(image, regions, style, block, spec.margin))
                else:
                    hidden.append(redact(image, regions.mask, style, block))
            write_document(out, hidden, doc, policy=output.metadata)
            if regions_dir is not None:
                mask_file, json_file = plan.extra(src)
                union = np.logical_or.reduce([r.mask for r in found if r.shape == found[0].shape])
                write_image(mask_file, union.astype(np.uint8) * 255)
                write_json(json_file, found[0].to_json() if len(found) == 1 else
                           {"frames": [r.to_json() for r in found]})

        def video_build(src: Path, out: Path) -> VideoJob:
            if spec is not None and spec.where == "random":
                info = probe(src)
                rng = np.random.default_rng([seed, index[src]])
                return mosaic_video_job(src, out, mask=random_region(rng, info.height,
                                                                     info.width)[2],
                                        block=block, style=style, options=video, log=log)
            if spec is not None:
                return mosaic_video_job(src, out, where=spec, block=block, style=style,
                                        detect_every=detect_every, options=video, log=log)
            m = None
            if mask_path is not None:
                info = probe(src)
                m = read_mask(mask_path, (info.width, info.height))
            return mosaic_video_job(src, out, box=box, mask=m, block=block, style=style,
                                    options=video, log=log)

        def video_job(src: Path, out: Path) -> None:
            done = video_build(src, out).run(log)
            assert isinstance(done, MosaicVideoReport)
            log(done.summary())
            if regions_dir is not None:
                mask_file, json_file = plan.extra(src)
                write_image(mask_file, done.regions_mask())
                write_json(json_file, done.regions_json())

        return FileJobs(image_job, video_job, video_build)

    return run_files(plan, BatchReport(), log, jobs, cluster, video)


def _with_neighbours(found: list[Regions]) -> list[Regions]:
    """Each frame's regions together with those of the frames before and after it."""
    near = [found[max(i - 1, 0):i + 2] for i in range(len(found))]
    return [Regions(np.logical_or.reduce([r.mask for r in rs]),
                    [b for r in rs for b in r.boxes], [v for r in rs for v in r.scores],
                    [v for r in rs for v in r.labels], [v for r in rs for v in r.extras])
            for rs in near]


def tracked_hider(region_fn: RegionFn, where: RegionSpec | None, *, block: int | None = None,
                  detect_every: int = DETECT_EVERY, stabilise: bool = True, hold: int = 3,
                  style: str = "mosaic", tracks: dict[int, dict[str, Any]] | None = None,
                  watch: Watch | None = None) -> TrackedMosaic:
    """The frame processor :func:`mosaic_video` hides found regions with (``where``: what
    ``region_fn`` finds, for the face rules and the shape; see there for the rest)."""
    shape = where.shape if where is not None else "box"  # ellipses stay ellipses
    tracker = (RegionTracker(hold=hold, detect_every=detect_every, shape=shape)
               if stabilise else None)
    rule = sigma_rule = None
    if where is not None and where.where == "face":  # the strength scales with each face
        rule = partial(face_block, margin=where.margin)
        sigma_rule = partial(face_sigma, margin=where.margin)
    return TrackedMosaic(region_fn, block=block, detect_every=detect_every, tracker=tracker,
                         tracks=tracks, block_rule=rule, style=style, sigma_rule=sigma_rule,
                         watch=watch)


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
                 detect_every: int = DETECT_EVERY, stabilise: bool = True, hold: int = 3,
                 style: str = "mosaic", options: VideoOptions = DEFAULT_VIDEO,
                 log: Log = print) -> MosaicVideoReport:
    """Hide a region of a video in ``style`` (``mosaic``, ``blur`` or ``solid``, as for
    images); audio and everything else copied.

    Exactly one of:
        box: ``(x, y, w, h)`` in display pixels, the same on every frame.
        mask: ``(H, W)`` bool in display orientation, the same on every frame.
        where: regions found on every ``detect_every``-th frame (faces, CAM, nudity); in
            the frames between, each region covers the box from one detection to the next,
            and a region first found at a detection is covered back to the one before.
        region_fn: ``frame (H, W, 3) uint8 -> (H, W) bool`` (or a ``Regions``: its mask
            is used), likewise.
    Found regions are tracked with ``stabilise``: gaps filled, held ``hold`` detections
    after they vanish, covered one detection before they appear, boxes smoothed.

    block: cell size of a mosaic; default about 16 cells across each region (faces: at
        most a few cells across each face, and a blur's sigma likewise scales with it).
    options: encoding and range (:class:`~mosaicgan.options.VideoOptions`); a long video
        runs in chunks (``options.chunk``), resumable.
    """
    report = mosaic_video_job(src, dst, box=box, mask=mask, where=where, region_fn=region_fn,
                              block=block, detect_every=detect_every, stabilise=stabilise,
                              hold=hold, style=style, options=options, log=log).run(log)
    assert isinstance(report, MosaicVideoReport)
    return report


def mosaic_video_job(src: str | Path, dst: str | Path, *, box: Box | None = None,
                     mask: np.ndarray | None = None, where: RegionSpec | None = None,
                     region_fn: RegionFn | None = None, block: int | None = None,
                     detect_every: int = DETECT_EVERY, stabilise: bool = True, hold: int = 3,
                     style: str = "mosaic", options: VideoOptions = DEFAULT_VIDEO,
                     log: Log = print) -> VideoJob:
    """:func:`mosaic_video` as a :class:`~mosaicgan.video.chunks.VideoJob` (its chunks can
    run on several workers)."""
    src, dst = Path(src), Path(dst)
    custom = region_fn is not None
    if where is not None:
        if region_fn is not None:
            raise ValueError("give where or region_fn, not both")
        spec = where

        def region_fn(frame: np.ndarray) -> Regions:
            return find_regions(frame, spec)
    check_one_source(box, mask, region_fn)
    if block is not None and block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    check_style(style)
    info = probe(src)
    region = None
    if region_fn is None:
        try:
            region = given_regions((info.height, info.width), box=box, mask=mask, what="video")
        except ValueError as exc:
            raise InputError(src, str(exc)) from None
        if not region.mask.any():
            raise InputError(src, "the mask is empty")

    def empty() -> MosaicVideoReport:
        return MosaicVideoReport(src, dst, width=info.width, height=info.height)

    def one(out: Path, chunk: Chunk | None = None, watch: Watch | None = None
            ) -> MosaicVideoReport:
        report = empty()
        processor: FixedMosaic | TrackedMosaic
        if region is not None:
            processor = FixedMosaic(region.mask, block, report.tracks, style, watch)
        else:
            processor = tracked_hider(region_fn, where, block=block, detect_every=detect_every,
                                      stabilise=stabilise, hold=hold, style=style,
                                      tracks=report.tracks, watch=watch)
        process_video(src, out, processor, options, metadata={"comment": json.dumps(meta)},
                      log=log, report=report, chunk=chunk)
        return report

    def work(chunk: Chunk, _withheld: frozenset[int]) -> ChunkResult:
        watch = Watch(chunk.shared, kept=chunk.frames)
        return ChunkResult(chunk.index, one(chunk_path(dst, chunk.index), chunk, watch),
                           seen=watch.seen)

    meta = metadata("mosaic", region="box" if box is not None else
                    "mask" if region_fn is None else "detected per frame")
    settings = video_settings(
        "mosaic", options, box=box, mask=None if region is None else region.mask,
        where=where, custom=custom, block=block, detect_every=detect_every,
        stabilise=stabilise, hold=hold, style=style)
    return VideoJob(src, dst, options, settings, work, lambda: one(dst), empty,
                    {"comment": json.dumps(meta)})
