"""The restore job: find the mosaics of images and videos (or take a mask) and restore them
through the restorer's one chain; what the safety gate refuses stays as it was."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, InputError
from ..find import find_regions
from ..geometry import Box, boxes_overlap
from ..imagefile import read_document, write_document
from ..imageio import read_mask
from ..models.restorer import (
    Restorer,
    RestoreResult,
    find_mosaics,
    load_restorer,
    mask_and_grids,
    regions_of,
)
from ..options import (
    DEFAULT_OUTPUT,
    DEFAULT_VIDEO,
    ClusterOptions,
    Log,
    OutputOptions,
    VideoOptions,
    silent,
)
from ..video.chunks import ChunkResult, VideoJob, chunk_path, video_settings
from ..video.io import Chunk, probe, process_video, read_frames
from ..video.processors import Refused, RestoreProcessor, RestoreVideoReport
from ..video.temporal import RegionTracker, Watch
from .batch import BatchReport, FileJobs, in_folder, metadata, plan_batch, refuse_deep
from .cluster import run_files


def restore_image(image: np.ndarray, restorer: Restorer,
                  mask: np.ndarray | None = None) -> RestoreResult:
    """Restore an (H, W, 3) uint8 image: inside ``mask``, or where mosaics are found.

    Returns a RestoreResult (image, regions with what was restored and what was refused).
    """
    if mask is None:
        finding = find_regions(image)
        result = restorer.restore(image, *mask_and_grids(finding.regions, image.shape))
        result.unrestorable = [area.box for area in finding.unrestorable]
        return result
    return restorer.restore(image, mask)


def restore_regions(image: np.ndarray, mask: np.ndarray | None = None
                    ) -> list[tuple[Box, np.ndarray]]:
    """The regions :func:`restore_image` would restore in ``image`` (inside ``mask``, or
    where mosaics are found): ``(box, (H, W) bool)`` each, largest first. For a look
    before restoring (the web app's overlay)."""
    return regions_of(find_mosaics(image)[0] if mask is None else mask.astype(bool))


def restore_files(inputs: Iterable[str | Path], out_dir: str | Path, *,
                  model: str | Path | None = "default",
                  mask: str | Path | None = None, device: str = "auto",
                  sharpness: float | None = None,
                  video: VideoOptions = DEFAULT_VIDEO, output: OutputOptions = DEFAULT_OUTPUT,
                  cluster: ClusterOptions | None = None, log: Log = print) -> BatchReport:
    """Restore each image or video (mask given, or found) into ``out_dir``, named and
    written like its input (:mod:`mosaicgan.naming`: ``cat.jpg`` -> ``cat_restored.jpg``;
    a video streamed, regions tracked, audio copied).

    Regions refused by the safety gate stay as they were; the log says which and why.
    The PNG's metadata lists the regions synthesised and those refused.
    sharpness: where on the model's sharpness dial to restore (see
    :func:`mosaicgan.models.restorer.load_restorer`).
    cluster: run the batch on Ray workers (:mod:`mosaicgan.jobs.cluster`).
    """
    mask_path = Path(mask) if mask is not None else None

    def jobs(report: BatchReport, log: Log) -> FileJobs:
        # Built once per process (the model loaded): here, or on each --cluster worker.
        restorer = load_restorer(model, device, sharpness)

        def image_job(src: Path, out: Path) -> None:
            doc = read_document(src)
            for form in doc.forms:
                refuse_deep(src, form)
            results = []
            for image in doc.frames:
                m = None if mask_path is None else read_mask(mask_path,
                                                             (image.shape[1], image.shape[0]))
                results.append(restore_image(image, restorer, m))
            frames = [r.image for r in results]
            withheld = []
            if len(results) > 1:
                # The whole-track rule of videos, by box overlap: a region refused in any frame
                # stays as the input had it in every frame where a region overlaps its box.
                refused = [(i, r.box) for i, res in enumerate(results) for r in res.refused]
                for i, res in enumerate(results):
                    for region in res.regions:
                        if region.restored and any(boxes_overlap(region.box, box)
                                                   for j, box in refused if j != i):
                            x, y, w, h = region.box
                            frames[i][y:y + h, x:x + w] = doc.frames[i][y:y + h, x:x + w]
                            withheld.append([i, *region.box])
                if withheld:
                    report.note(f"{src}: {len(withheld)} region(s) kept as they were in other "
                                "frames: a face or nudity was detected in the restored result of "
                                "an overlapping region", log)
            for res in results:
                for region in res.refused:
                    report.note(f"{src}: region at {region.box} kept as it was: "
                                f"{' and '.join(region.reasons)} detected in the restored result",
                                log)
            for i, res in enumerate(results):
                for box in res.unrestorable:
                    where = f"frame {i}, " if len(results) > 1 else ""
                    report.note(f"{src}: {where}area at {box} looks mosaiced but has no grid of "
                                "cells to restore from; kept as it was", log)
            if not any(res.regions or res.unrestorable for res in results):
                log(f"{src}: no mosaic found; written unchanged")
            if len(results) == 1:
                meta = metadata("restore", model=restorer.source,
                                synthesized=[list(b) for b in results[0].synthesized],
                                refused=[r.as_dict() for r in results[0].refused],
                                unrestorable=[list(b) for b in results[0].unrestorable])
            else:  # boxes as [frame, x, y, w, h]
                meta = metadata("restore", model=restorer.source,
                                synthesized=[[i, *r.box] for i, res in enumerate(results)
                                             for r in res.regions
                                             if r.restored and [i, *r.box] not in withheld],
                                refused=[{"frame": i, **r.as_dict()}
                                         for i, res in enumerate(results) for r in res.refused],
                                unrestorable=[[i, *b] for i, res in enumerate(results)
                                              for b in res.unrestorable],
                                withheld=withheld)
            write_document(out, frames, doc, metadata=meta, policy=output.metadata)
            report.details[str(src)] = meta

        def video_build(src: Path, out: Path) -> VideoJob:
            m = None
            if mask_path is not None:
                info = probe(src)
                m = read_mask(mask_path, (info.width, info.height))
            return restore_video_job(src, out, restorer, mask=m, options=video, log=log)

        def video_job(src: Path, out: Path) -> None:
            done = video_build(src, out).run(log)
            assert isinstance(done, RestoreVideoReport)
            report.details[str(src)] = done
            log(done.summary())
            if done.withheld:
                report.note(f"{src}: {len(done.withheld)} tracked region(s) kept mosaiced in every "
                            "frame: a face or nudity was detected in the restored result", log)

        return FileJobs(image_job, video_job, video_build)

    plan = plan_batch(inputs, out_dir, in_folder(out_dir, "restore"), command="restore",
                      output=output, videos=True)
    return run_files(plan, BatchReport(), log, jobs, cluster, video)


def restore_video(src: str | Path, dst: str | Path, restorer: Restorer, *,
                  mask: np.ndarray | None = None, detect_every: int = 1,
                  stabilise: bool = True, options: VideoOptions = DEFAULT_VIDEO,
                  log: Log = print) -> RestoreVideoReport:
    """Restore the mosaics of a video with a :class:`~mosaicgan.models.restorer.Restorer`.

    mask: ``(H, W)`` bool (display orientation) to restore in every frame; default: the
        mosaics found in each ``detect_every``-th frame, tracked over time (a region
        missed for up to 2 detections is filled in) with crop windows held steady, so
        restored content does not swim. Finding follows each mosaic from one frame to
        the next on its grid (:class:`~mosaicgan.find.MosaicFollower`): the whole
        frame is searched on the first frame, when a mosaic is lost, and every 12th.
    Pixels outside the regions are passed through (within the codec's tolerance).

    The safety gate screens every region in every frame, and decides per track: a
    tracked region refused in any frame stays as the input had it in every frame of its
    track (so a detector that misses a face now and then cannot leak it). The first pass
    writes the output; when the gate refuses a track, that pass is abandoned (its partial
    file removed), a scan finds every refused track, and the video is written again with
    them withheld. The report's ``withheld`` names them; the log says for how many frames.
    A long video runs in chunks (``options.chunk``, resumable) and the rule holds across
    them: a track refused in one chunk is withheld in every chunk it reaches.
    options: encoding and range (:class:`~mosaicgan.options.VideoOptions`).
    """
    report = restore_video_job(src, dst, restorer, mask=mask, detect_every=detect_every,
                               stabilise=stabilise, options=options, log=log).run(log)
    assert isinstance(report, RestoreVideoReport)
    return report


def restore_video_job(src: str | Path, dst: str | Path, restorer: Restorer, *,
                      mask: np.ndarray | None = None, detect_every: int = 1,
                      stabilise: bool = True, options: VideoOptions = DEFAULT_VIDEO,
                      log: Log = print) -> VideoJob:
    """:func:`restore_video` as a :class:`~mosaicgan.video.chunks.VideoJob` (its chunks
    can run on several workers)."""
    src, dst = Path(src), Path(dst)
    if not stabilise:
        # Untracked regions have no identity to match across chunks, and one refusal
        # withholds them all: that needs the whole video in one pass.
        options = replace(options, chunk=None)
    if mask is not None:
        info = probe(src)
        if mask.shape != (info.height, info.width):
            raise InputError(src, f"mask is {mask.shape[1]}x{mask.shape[0]}, the video is "
                                  f"{info.width}x{info.height}")
        mask = mask.astype(bool)

    def processor(report: RestoreVideoReport, withheld: frozenset[int], withhold_all: bool,
                  stop: bool, watch: Watch | None, log: Log) -> RestoreProcessor:
        # Restoration acts on the mosaic's own pixels (shape="mask"): no hold or lead-in
        # onto clean pixels, but short misses of the finder are bridged; median keeps
        # windows still.
        tracker = RegionTracker(hold=0, max_gap=2, lead=0, smooth=2, smoothing="median",
                                shape="mask",
                                detect_every=1 if mask is not None else detect_every
                                ) if stabilise else None
        return RestoreProcessor(restorer, report, mask=mask, detect_every=detect_every,
                                tracker=tracker, batch=options.batch, withheld=withheld,
                                withhold_all=withhold_all, stop_on_refusal=stop, watch=watch,
                                log=log)

    meta = metadata("restore", model=restorer.source,
                    synthesized="regions inside the mosaics, screened per frame and track")

    def one(out: Path, chunk: Chunk | None = None, withheld: frozenset[int] = frozenset()
            ) -> ChunkResult:
        withhold_all = False
        scans: dict[int, dict[str, Any]] = {}
        while True:
            report = RestoreVideoReport(src, dst)
            watch = Watch(chunk.shared, kept=chunk.frames) if chunk is not None else Watch()
            try:
                process_video(src, out, processor(report, withheld, withhold_all, True, watch,
                                                  log),
                              options, metadata={"comment": json.dumps(meta)}, log=log,
                              report=report, chunk=chunk)
                break
            except Refused:
                scan = RestoreVideoReport(src, dst)
                _scan(src, processor(scan, withheld, withhold_all, False, None, silent),
                      options, chunk)
                scans.update(scan.refused)
                withheld |= frozenset(scan.refused)
                # Untracked regions have no identity over time: refuse them all.
                withhold_all = withhold_all or not stabilise
                where = "" if chunk is None else f" in chunk {chunk.index + 1}"
                log(f"{src}: the safety gate refused {len(scan.refused)} track(s){where}; "
                    "writing it again with them kept as they were in every frame")
        for track, seen in sorted(report.withheld.items()):
            refused = scans.get(track)
            if refused is not None:
                log(f"{src}: track {track} (frames {seen['frames'][0]}-{seen['frames'][1]}): "
                    f"{' and '.join(refused['reasons'])} detected in {refused['count']} of "
                    f"its {seen['count']} frames; kept as the input had it in all "
                    f"{seen['count']}")
        return ChunkResult(-1 if chunk is None else chunk.index, report, withheld,
                           frozenset(scans), watch.seen)

    def work(chunk: Chunk, withheld: frozenset[int]) -> ChunkResult:
        return one(chunk_path(dst, chunk.index), chunk, withheld)

    settings = video_settings("restore", options, model=restorer.source, mask=mask,
                              detect_every=detect_every, stabilise=stabilise)
    return VideoJob(src, dst, options, settings, work, lambda: one(dst).report,
                    lambda: RestoreVideoReport(src, dst), {"comment": json.dumps(meta)})


def _scan(src: Path, processor: RestoreProcessor, options: VideoOptions,
          chunk: Chunk | None = None) -> None:
    """Run ``processor`` over the frames of ``src`` (of ``chunk``, when given) and drop
    its output (nothing written)."""
    start, duration, index = options.start, options.duration, 0
    if chunk is not None:
        base = Fraction(probe(src).start_time).limit_denominator(1 << 30)
        start = float(chunk.lo - base)
        duration = None if chunk.hi is None else float(chunk.hi - chunk.lo)
        index = chunk.first_index
        if chunk.hi is None and options.duration is not None:
            duration = (options.start or 0) + options.duration - start
    frames: list[np.ndarray] = []
    for _, frame in read_frames(src, start=start, duration=duration):
        frames.append(frame)
        if len(frames) == options.batch:
            if options.cancel is not None and options.cancel.is_set():
                raise Cancelled(f"{src}: cancelled")
            processor.push(frames, list(range(index, index + len(frames))))
            index += len(frames)
            frames = []
    if frames:
        processor.push(frames, list(range(index, index + len(frames))))
    processor.flush()
