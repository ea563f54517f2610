"""The translate job: whole images and videos through a trained generator; an output the
safety gate refuses (nudity, or a face the input did not show) is not written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..imageio import read_image, write_image
from ..models.translator import Translator, load_translator
from ..options import DEFAULT_VIDEO, Log, VideoOptions
from ..video.io import VideoReport, process_video
from ..video.processors import OutputRefused, TranslateProcessor
from .batch import BatchReport, Skip, metadata, outputs, run_batch


def translate_files(inputs: Iterable[str | Path], out_dir: str | Path, *, model: str | Path,
                    direction: str = "AtoB", device: str = "auto",
                    video: VideoOptions = DEFAULT_VIDEO, log: Log = print) -> BatchReport:
    """Translate each image into ``out_dir/<stem>.png`` (a video into ``out_dir/<name>``);
    outputs the gate refuses (nudity anywhere, or a face where the input showed none) are
    not written (a video with one such frame is refused whole) and are listed as skipped."""
    translator = load_translator(model, direction, device)

    def image_job(src: Path, out: Path) -> Path | None:
        result = translator.translate(read_image(src))
        if result.image is None:
            raise Skip(src, f"output refused: {', '.join(result.refused)} detected")
        return write_image(out, result.image, metadata=metadata(
            "translate", model=translator.source, direction=direction,
            synthesized="whole image"))

    def video_job(src: Path, out: Path) -> Path | None:
        try:
            log(translate_video(src, out, translator, options=video, log=log).summary())
        except OutputRefused as exc:
            raise Skip(src, exc.problem) from None
        return out

    return run_batch(outputs(inputs, out_dir, suffix=".png", videos=True), BatchReport(), log,
                     image_job, video_job)


def translate_video(src: str | Path, dst: str | Path, translator: Translator, *,
                    options: VideoOptions = DEFAULT_VIDEO, log: Log = print) -> VideoReport:
    """Translate every frame of a video with a :class:`~mosaicgan.models.translator.Translator`.

    Each output frame passes the safety gate; if one is refused, the whole video is
    refused: :class:`OutputRefused` (an InputError naming the file and the frame) is
    raised and no output file is left.
    """
    src = Path(src)
    meta = metadata("translate", model=translator.source, synthesized="whole frames")
    return process_video(src, dst, TranslateProcessor(translator, src), options,
                         metadata={"comment": json.dumps(meta)}, log=log)
