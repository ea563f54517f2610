"""The one per-file loop every file job runs: inputs to output paths, images and videos
dispatched, every expected failure one line naming the file, and the batch goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2

from .. import __version__
from ..errors import InputError, MosaicganError
from ..imageio import IMAGE_SUFFIXES, ImageForm, list_images_named, output_path
from ..options import Log
from ..video.io import VIDEO_SUFFIXES, is_video

# (input, output) -> the file written (None: the output path given), or raises
FileJob = Callable[[Path, Path], Path | None]


class Skip(InputError):
    """Raised by a file job for an input it leaves out on purpose (an output the safety
    gate refused): recorded in ``skipped``, not in ``failed``."""


@dataclass
class BatchReport:
    """What a file-level job did: outputs written, files that failed, files skipped."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def fail(self, src: str | Path, message: str | Exception, log: Log) -> None:
        """Record a failed input and say so in one line."""
        self.failed.append((str(src), str(message)))
        log(f"error: {message}")

    def note(self, message: str, log: Log) -> None:
        """Record a note (e.g. a region the gate kept) and say it."""
        self.notes.append(message)
        log(message)

    def summary(self) -> str:
        parts = [f"{len(self.written)} written"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


def outputs(inputs: Iterable[str | Path], out_dir: str | Path, suffix: str | None = None,
            videos: bool = False) -> list[tuple[Path, Path]]:
    """(input, output) pairs; an output equal to an input or to another output is an error.

    With ``videos``, folders are searched for videos too, and a video keeps its suffix.
    """
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES if videos else IMAGE_SUFFIXES
    pairs, seen = [], {}
    for src, name in list_images_named(inputs, suffixes):
        video = videos and is_video(src)
        out = output_path(src, out_dir, name, None if video else suffix)
        if out in seen:
            raise InputError(src, f"its output {out} would overwrite the output of {seen[out]}")
        seen[out] = src
        pairs.append((src, out))
    return pairs


def run_batch(pairs: list[tuple[Path, Path]], report: BatchReport, log: Log,
              image: FileJob, video: FileJob | None = None) -> BatchReport:
    """Run ``image`` (or ``video``, for video inputs) on each (input, output) pair.

    A job writes its output or raises; what it raises for bad input (a MosaicganError, an
    OSError while reading or writing, an OpenCV error) becomes one line naming the file in
    ``report.failed``, and the batch goes on.
    """
    for src, out in pairs:
        try:
            job = video if video is not None and is_video(src) else image
            report.written.append(job(src, out) or out)
        except Skip as exc:
            report.skipped.append((str(src), exc.problem))
            log(f"{exc}; nothing written")
        except MosaicganError as exc:
            report.fail(src, exc, log)
        except OSError as exc:  # disk full, permission denied, ... (reading raises InputError)
            report.fail(src, f"{src}: cannot write {out}: {exc.strerror or exc}", log)
        except cv2.error as exc:
            report.fail(src, f"{src}: {_first_line(exc)}", log)
    return report


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def refuse_deep(src: Path, form: ImageForm) -> None:
    """Jobs that promise pixels outside their regions unchanged refuse 16-bit images
    (they work in 8 bits, so every pixel would change)."""
    if form.deep:
        raise InputError(src, "a 16-bit image: mosaicgan works on 8-bit images and would "
                              "change every pixel; convert it to 8 bits first")


def metadata(operation: str, **fields: Any) -> dict[str, Any]:
    """What an output records about how it was made (PNG text chunk, video comment)."""
    return {"tool": "mosaicgan", "version": __version__, "operation": operation, **fields}
