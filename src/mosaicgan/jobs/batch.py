"""The one per-file loop every file job runs: inputs to output paths, images and videos
dispatched, every expected failure one line naming the file, and the batch goes on."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import cv2

from .. import __version__
from ..errors import InputError, MosaicganError, Skip
from ..imageio import IMAGE_SUFFIXES, ImageForm
from ..naming import derived_name, output_name
from ..options import DEFAULT_OUTPUT, Log, OutputOptions
from ..video.chunks import VideoJob
from ..video.io import VIDEO_SUFFIXES, is_video
from ..walk import RECORD_NAME, find_inputs

# (input, output) -> the file written (None: the output path given), or raises
FileJob = Callable[[Path, Path], Path | None]


class FileJobs(NamedTuple):
    """A batch's jobs: for images (and videos, when ``video`` is None), for videos, and
    the video job itself, which a cluster runs a chunk at a time (``chunked(src, out)``:
    the :class:`~mosaicgan.video.chunks.VideoJob` that ``video`` runs)."""

    image: FileJob
    video: FileJob | None = None
    chunked: Callable[[Path, Path], VideoJob] | None = None


@dataclass
class BatchReport:
    """What a file-level job did: outputs written, files that failed, files skipped."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)
    # What each input's job did, for a caller that says more than the log (the web app):
    # restore's metadata dict for an image, its RestoreVideoReport for a video.
    details: dict[str, Any] = field(default_factory=dict)

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


Namer = Callable[[Path], list[Path]]  # an input's name -> the files it writes (main first)


@dataclass(frozen=True)
class Target:
    """One input of a batch and the files it writes: ``out`` (handed to the job), then
    ``extra`` (masks, region lists) written beside it or elsewhere."""

    src: Path
    out: Path
    extra: tuple[Path, ...] = ()

    @property
    def paths(self) -> tuple[Path, ...]:
        return (self.out, *self.extra)


@dataclass
class Plan:
    """What a batch will do: its targets, and for each input it will not touch, why
    (``failed``: a missing path, an output that would replace an input or another output;
    ``skipped``: an existing output kept; ``done``: outputs this command wrote before,
    with ``--resume``). ``notes``: lines about what a folder search left out."""

    targets: list[Target] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    done: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    record: Record | None = None
    order: dict[Path, int] = field(default_factory=dict)  # each input's place in the batch

    def extra(self, src: Path) -> tuple[Path, ...]:
        """The other files ``src`` writes besides its main output."""
        return next(t.extra for t in self.targets if t.src == src)


def in_folder(out_dir: str | Path, job: str) -> Namer:
    """Outputs that keep their input's name and format, with ``job``'s suffix
    (:func:`mosaicgan.naming.output_name`), under ``out_dir``."""
    return lambda name: [Path(out_dir) / output_name(name, job)]


def derived_in(folder: str | Path, *kinds: str) -> Namer:
    """Files derived from each input (:func:`mosaicgan.naming.derived_name`) in ``folder``."""
    return lambda name: [Path(folder) / derived_name(name, kind) for kind in kinds]


def both(*namers: Namer) -> Namer:
    """Every file of several namers, the first namer's first file as the main one."""
    return lambda name: [path for namer in namers for path in namer(name)]


def plan_batch(inputs: Iterable[str | Path], out_dir: str | Path, names: Namer, *,
               command: str, output: OutputOptions = DEFAULT_OUTPUT, videos: bool = False,
               also_out: Iterable[str | Path] = ()) -> Plan:
    """Expand the inputs and decide, for each, what it writes and whether to run it.

    Never replaces an input, never lets two inputs write one file (one line naming both,
    before any work), keeps an existing output unless ``output.overwrite`` (a line says
    so), and with ``output.resume`` skips what this command wrote before for the same
    input (the record in ``out_dir`` says what). ``also_out``: other folders outputs go
    to (e.g. --regions), never searched for inputs either.
    """
    suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES if videos else IMAGE_SUFFIXES
    roots = [Path(out_dir), *map(Path, also_out)]
    found = find_inputs(inputs, suffixes, exclude=roots)
    record = Record(Path(out_dir), command)
    plan = Plan(failed=list(found.missing), notes=list(found.notes), record=record,
                order={src: i for i, (src, _) in enumerate(found.inputs)})
    sources = {src.resolve(): src for src, _ in found.inputs}
    claimed: dict[Path, Path] = {}
    for src, name in found.inputs:
        paths = names(name)
        problem = _clash(paths, sources, claimed)
        if problem:
            plan.failed.append((src, problem))
            continue
        for path in paths:
            claimed[path.resolve()] = src
        target = Target(src, paths[0], tuple(paths[1:]))
        existing = [p for p in paths if p.exists()]
        if output.overwrite or not existing:
            plan.targets.append(target)
        elif output.resume and record.wrote(target):
            plan.done.append(src)
        elif output.resume and record.ours(existing):
            plan.targets.append(target)  # ours, from an input that has changed since
        else:
            plan.skipped.append((src, f"{existing[0]} exists; kept (--overwrite replaces it"
                                      + (")" if output.resume else
                                         ", --resume skips only what mosaicgan wrote)")))
    return plan


def _clash(paths: list[Path], sources: dict[Path, Path], claimed: dict[Path, Path]
           ) -> str | None:
    """Why these outputs may not be written: one is an input, or another input's output."""
    for path in paths:
        key = path.resolve()
        if key in sources:
            return f"its output {path} is an input ({sources[key]}); choose another -o"
        if key in claimed:
            return (f"its output {path} is also the output of {claimed[key]}; rename one "
                    "of them or process them separately")
    return None


class Record:
    """What a command wrote in an output folder (:data:`mosaicgan.walk.RECORD_NAME`): one
    JSON line per output with its size and time, and its input's, appended as each input
    is done (so an interrupted batch knows what it finished). A file changed since it was
    written is no longer taken as the command's own."""

    def __init__(self, folder: Path, command: str):
        self.path = folder / RECORD_NAME
        self.folder = folder
        self.command = command
        self._entries: dict[str, dict[str, Any]] | None = None

    def _key(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.folder.resolve()).as_posix()
        except ValueError:
            return str(path.resolve())

    @property
    def entries(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = {}
            try:
                lines = self.path.read_text().splitlines()
            except OSError:
                lines = []
            for line in lines:
                try:
                    entry = json.loads(line)
                    self._entries[entry["path"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a crash: that output is simply not known
        return self._entries

    def ours(self, paths: Iterable[Path]) -> bool:
        """Whether this command wrote each of ``paths`` and nobody changed it since."""
        for path in paths:
            entry = self.entries.get(self._key(path))
            if entry is None or entry.get("command") != self.command or \
                    entry.get("stamp") != _stamp(path):
                return False
        return True

    def wrote(self, target: Target) -> bool:
        """Whether this command wrote every file of ``target`` from its input as it is now."""
        existing = [p for p in target.paths if p.exists()]
        entry = self.entries.get(self._key(target.out))
        return bool(existing) and self.ours(existing) and entry is not None and \
            entry.get("input") == str(target.src.resolve()) and \
            entry.get("input_stamp") == _stamp(target.src)

    def add(self, target: Target, written: Iterable[Path]) -> None:
        """Record the files written for ``target`` (those that exist)."""
        lines = []
        for path in written:
            if path.exists():
                entry = {"path": self._key(path), "command": self.command,
                         "stamp": _stamp(path), "input": str(target.src.resolve()),
                         "input_stamp": _stamp(target.src)}
                self.entries[entry["path"]] = entry
                lines.append(json.dumps(entry))
        if lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as record:  # one short line each: appended whole
                record.write("\n".join(lines) + "\n")


def _stamp(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def run_batch(plan: Plan, report: BatchReport, log: Log,
              image: FileJob, video: FileJob | None = None) -> BatchReport:
    """Run ``image`` (or ``video``, for video inputs) on each target of ``plan``.

    What the plan left out is said first, one line each. A job writes its output or
    raises; what it raises for bad input (a MosaicganError, an OSError while reading or
    writing, an OpenCV error) becomes one line naming the file in ``report.failed``, and
    the batch goes on.
    """
    begin_batch(plan, report, log)
    for target in plan.targets:
        written = run_target(target, report, log, image, video)
        if written is not None:
            record_written(plan, target, written)
    return report


def begin_batch(plan: Plan, report: BatchReport, log: Log) -> None:
    """Say, one line each, what ``plan`` leaves out, and record it in ``report``."""
    for line in plan.notes:
        report.note(line, log)
    for src, problem in plan.failed:
        report.fail(src, f"{src}: {problem}", log)
    for src, reason in plan.skipped:
        report.skipped.append((str(src), reason))
        log(f"{src}: {reason}")
    if plan.done:
        report.note(f"{len(plan.done)} input(s) already done by an earlier run (--resume)",
                    log)


def run_target(target: Target, report: BatchReport, log: Log, image: FileJob,
               video: FileJob | None = None) -> Path | None:
    """Run one input's job (``video`` for a video input, if given); the file written, or
    None when it failed or was skipped (one line, in ``report``)."""
    src, out = target.src, target.out
    try:
        job = video if video is not None and is_video(src) else image
        written = job(src, out) or out
        report.written.append(written)
        return written
    except (MosaicganError, OSError, cv2.error) as exc:
        record_failure(target, exc, report, log)
    return None


def record_failure(target: Target, exc: MosaicganError | OSError | cv2.error,
                   report: BatchReport, log: Log) -> None:
    """One line for what a job raised for ``target`` (skipped on purpose, or failed)."""
    src, out = target.src, target.out
    if isinstance(exc, Skip):
        report.skipped.append((str(src), exc.problem))
        log(f"{exc}; nothing written")
    elif isinstance(exc, MosaicganError):
        report.fail(src, exc, log)
    elif isinstance(exc, OSError):  # disk full, permission denied, ... (reading: InputError)
        report.fail(src, f"{src}: cannot write {out}: {exc.strerror or exc}", log)
    else:
        report.fail(src, f"{src}: {_first_line(exc)}", log)


def record_written(plan: Plan, target: Target, written: Path) -> None:
    """Add what ``target`` wrote to the plan's record (what ``--resume`` skips)."""
    if plan.record is not None:
        plan.record.add(target, dict.fromkeys([written, *target.paths]))


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
