"""The translate job: whole images and videos through a trained generator; an output the
safety gate refuses (nudity, or a face the input did not show) is not written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..imagefile import read_document, write_document
from ..models.translator import Translator, load_translator
from ..options import (
    DEFAULT_OUTPUT,
    DEFAULT_VIDEO,
    ClusterOptions,
    Log,
    OutputOptions,
    VideoOptions,
)
from ..video.chunks import ChunkResult, VideoJob, chunk_path, video_settings
from ..video.io import Chunk, VideoReport, process_video
from ..video.processors import TranslateProcessor
from .batch import BatchReport, FileJobs, Skip, in_folder, metadata, plan_batch
from .cluster import run_files


def translate_files(inputs: Iterable[str | Path], out_dir: str | Path, *, model: str | Path,
                    direction: str = "AtoB", device: str = "auto",
                    video: VideoOptions = DEFAULT_VIDEO, output: OutputOptions = DEFAULT_OUTPUT,
                    cluster: ClusterOptions | None = None, log: Log = print) -> BatchReport:
    """Translate each image or video into ``out_dir``, named and written like its input
    (:mod:`mosaicgan.naming`: ``cat.jpg`` -> ``cat_translated.jpg``);
    outputs the gate refuses (nudity anywhere, or a face where the input showed none) are
    not written (a video with one such frame is refused whole) and are listed as skipped.
    cluster: run the batch on Ray workers (:mod:`mosaicgan.jobs.cluster`)."""
    def jobs(report: BatchReport, log: Log) -> FileJobs:
        # Built once per process: here, or on each --cluster worker.
        translator = load_translator(model, direction, device)

        def image_job(src: Path, out: Path) -> Path | None:
            doc = read_document(src)
            frames = []
            for i, image in enumerate(doc.frames):
                result = translator.translate(image)
                if result.image is None:  # one refused frame refuses the file, as for a video
                    where = f" in frame {i}" if len(doc.frames) > 1 else ""
                    raise Skip(src, f"output refused: {', '.join(result.refused)} "
                                    f"detected{where}")
                frames.append(result.image)
            return write_document(out, frames, doc, metadata=metadata(
                "translate", model=translator.source, direction=direction,
                synthesized="whole image"), policy=output.metadata)

        def video_build(src: Path, out: Path) -> VideoJob:
            return translate_video_job(src, out, translator, options=video, log=log)

        def video_job(src: Path, out: Path) -> Path | None:
            # (a refused frame raises OutputRefused, a Skip: the video is skipped whole)
            log(video_build(src, out).run(log).summary())
            return out

        return FileJobs(image_job, video_job, video_build)

    plan = plan_batch(inputs, out_dir, in_folder(out_dir, "translate"), command="translate",
                      output=output, videos=True)
    return run_files(plan, BatchReport(), log, jobs, cluster, video)


def translate_video(src: str | Path, dst: str | Path, translator: Translator, *,
                    options: VideoOptions = DEFAULT_VIDEO, log: Log = print) -> VideoReport:
    """Translate every frame of a video with a :class:`~mosaicgan.models.translator.Translator`.

    Each output frame passes the safety gate; if one is refused, the whole video is
    refused: :class:`OutputRefused` (an InputError naming the file and the frame) is
    raised and no output file is left (a long video's chunks included: ``options.chunk``).
    """
    return translate_video_job(src, dst, translator, options=options, log=log).run(log)


def translate_video_job(src: str | Path, dst: str | Path, translator: Translator, *,
                        options: VideoOptions = DEFAULT_VIDEO, log: Log = print) -> VideoJob:
    """:func:`translate_video` as a :class:`~mosaicgan.video.chunks.VideoJob` (its chunks
    can run on several workers)."""
    src, dst = Path(src), Path(dst)
    meta = {"comment": json.dumps(metadata("translate", model=translator.source,
                                           synthesized="whole frames"))}

    def one(out: Path, chunk: Chunk | None = None) -> VideoReport:
        return process_video(src, out, TranslateProcessor(translator, src), options,
                             metadata=meta, log=log, report=VideoReport(src, dst), chunk=chunk)

    def work(chunk: Chunk, _withheld: frozenset[int]) -> ChunkResult:
        return ChunkResult(chunk.index, one(chunk_path(dst, chunk.index), chunk))

    settings = video_settings("translate", options, model=translator.source,
                              direction=translator.direction)
    return VideoJob(src, dst, options, settings, work, lambda: one(dst),
                    lambda: VideoReport(src, dst), meta)
