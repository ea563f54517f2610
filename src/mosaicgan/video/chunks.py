"""Long videos in chunks: cut at keyframes, each chunk processed on its own (one after
another here, or side by side on Ray workers), kept as soon as it is done, and joined
without encoding anything twice (:func:`~mosaicgan.video.io.join_video`).

A chunk also processes :data:`OVERLAP` seconds of each neighbour's frames and writes only
its own, so trackers, the detection schedule and the mosaic follower see the frames
around the join: a region's hold, lead-in and smoothing carry across it. The frames two
chunks both process are where their tracks are matched (boxes that overlap on the same
frame), so a track keeps one identity over the whole video and the whole-track safety
rule of restore holds across chunks: a track refused in one chunk is withheld in every
chunk it reaches (those chunks are processed again with it withheld).

Chunks are kept in a hidden folder beside the output (``.NAME.chunks``) with a manifest
naming the input (path, size, modification time), the job's settings and the cut; a
rerun after an interruption reuses the chunks done. A folder written for anything else
(another input, other settings) is emptied first, and a chunk's record is trusted only
beside the video it was made with (its size and modification time). The folder is
removed once the output is joined, or when the job fails for its input (a refusal, a
corrupt file).
"""

from __future__ import annotations

import glob
import hashlib
import json
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Cancelled, InputError
from ..geometry import Box, boxes_overlap
from ..imageio import atomic_path
from ..options import Log, VideoOptions
from .hiding import add_entry
from .io import (
    Chunk,
    FrameTimes,
    VideoReport,
    chunkable,
    frame_times,
    join_video,
    output_codec,
)

OVERLAP = 1.0  # seconds of each neighbour a chunk processes for context
MIN_CHUNKS = 1.5  # a video under this many chunks long runs in one pass


def chunk_frames(times: FrameTimes, seconds: float) -> list[int]:
    """Where chunks start: frame numbers, the first 0, each later one the first keyframe
    at or after a multiple of ``seconds`` (any frame where a video has too few
    keyframes), none that would leave a last chunk under half as long."""
    stamps, count = times.times, len(times.times)
    step = Fraction(str(seconds))
    starts = [0]
    keys = sorted(times.keyframes)
    k = 0
    while True:
        target = stamps[starts[-1]] + step
        if stamps[-1] - target < step / 2:
            return starts
        while k < len(keys) and stamps[keys[k]] < target:
            k += 1
        at = keys[k] if k < len(keys) and stamps[keys[k]] < target + step / 2 else \
            next(i for i in range(starts[-1] + 1, count) if stamps[i] >= target)
        starts.append(at)


def plan_chunks(src: str | Path, dst: str | Path, options: VideoOptions) -> list[Chunk] | None:
    """The chunks of ``src``'s range (``options``: start, duration, chunk) for the output
    ``dst``, or None when it runs in one pass (short, chunks off, frames without
    timestamps, or an encoder a chunk cannot hold: :func:`~mosaicgan.video.io.chunkable`)."""
    if options.chunk is None or not chunkable(dst, options):
        return None
    times = frame_times(src, options)
    if times is None or len(times.times) < 2 or \
            times.times[-1] - times.times[0] < Fraction(str(options.chunk * MIN_CHUNKS)):
        return None
    stamps, count = times.times, len(times.times)
    starts = [*chunk_frames(times, options.chunk), count]
    overlap = max(1, round(OVERLAP * times.fps))
    chunks = []
    for i, (first, end) in enumerate(pairwise(starts)):
        lo, hi = max(0, first - overlap), min(count, end + overlap)
        shared = tuple((a - overlap, a + overlap) for a in (first, end) if 0 < a < count)
        chunks.append(Chunk(i, stamps[lo], stamps[hi] if hi < count else None, stamps[first],
                            stamps[end] if end < count else None, lo, (first, end), shared,
                            output_codec(dst, options) or ""))
    return chunks


@dataclass
class ChunkResult:
    """What one chunk's job did: its report, the tracks it kept as the input had them
    (``withheld``: restore), those the safety gate refused in it, and each track's boxes
    on the frames it shares with its neighbours (``seen``: where tracks are matched)."""

    index: int
    report: VideoReport
    withheld: frozenset[int] = frozenset()
    refused: frozenset[int] = frozenset()
    seen: dict[int, list[tuple[int, Box]]] = field(default_factory=dict)


# A job's chunk: (the chunk, the tracks to withhold in it) -> what it did.
ChunkWork = Callable[[Chunk, frozenset[int]], ChunkResult]
# Runs chunks (one after another, or on workers), yielding each result as it is done.
Spread = Callable[[list[tuple[Chunk, frozenset[int]]]], Iterable[ChunkResult]]


def chunk_folder(dst: str | Path) -> Path:
    dst = Path(dst)
    return dst.parent / f".{dst.name}.chunks"


def chunk_path(dst: str | Path, index: int) -> Path:
    """Where chunk ``index`` of the output ``dst`` is written."""
    return chunk_folder(dst) / f"{index:05d}.mp4"


class ChunkStore:
    """The chunks of one output done so far (see the module's docstring). Opening it
    (:meth:`open`) is one process's job; saving results is another's (the one that
    plans, here or on a cluster's driver); workers only write their chunks' videos."""

    def __init__(self, dst: str | Path) -> None:
        self.dst = Path(dst)
        self.folder = chunk_folder(dst)

    def open(self, src: str | Path, settings: str, chunks: list[Chunk]) -> list[ChunkResult]:
        """The chunks already done for this input, these settings and this cut (anything
        else in the folder removed first), and what a killed job was writing removed."""
        src = Path(src)
        size, mtime_ns = _identity(src)
        manifest = {"source": str(src.resolve()), "size": size, "mtime_ns": mtime_ns,
                    "settings": settings,
                    "chunks": [[c.first_index, *c.frames] for c in chunks]}
        path = self.folder / "manifest.json"
        try:
            same = json.loads(path.read_text()) == manifest
        except (OSError, ValueError):
            same = False
        if not same:
            self.clear()
            self.folder.mkdir(parents=True)
            _write_json(path, manifest)
        for stale in self.folder.glob(".*.part"):
            stale.unlink(missing_ok=True)
        return [r for c in chunks if (r := self.result(c.index)) is not None]

    def result(self, index: int) -> ChunkResult | None:
        """Chunk ``index``'s result, when it was done: its record, beside the video it
        was made with (the video's size and modification time in the record)."""
        record, video = self.folder / f"{index:05d}.json", chunk_path(self.dst, index)
        try:
            data = json.loads(record.read_text())
            if data["video"] != _identity(video):
                return None  # another video than the record's: the chunk is done again
            return _result_from(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not done, or a record cut off: the chunk is done (again)

    def save(self, result: ChunkResult) -> None:
        """Record what a chunk did, with the identity of the video it wrote."""
        data = _result_json(result)
        data["video"] = _identity(chunk_path(self.dst, result.index))
        _write_json(self.folder / f"{result.index:05d}.json", data)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _identity(path: Path) -> list[int]:
    """A file's size and modification time, as the manifest names the input."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def _write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data))


def _report_types() -> dict[str, type]:
    found, todo = {}, [VideoReport]
    while todo:
        cls = todo.pop()
        found[cls.__name__] = cls
        todo += cls.__subclasses__()
    return found


def _result_json(result: ChunkResult) -> dict[str, Any]:
    report = {f.name: getattr(result.report, f.name) for f in fields(result.report)}
    report["src"], report["dst"] = str(report["src"]), str(report["dst"])
    return {"index": result.index, "type": type(result.report).__name__, "report": report,
            "withheld": sorted(result.withheld), "refused": sorted(result.refused),
            "seen": {str(t): [[i, *box] for i, box in boxes]
                     for t, boxes in result.seen.items()}}


def _result_from(data: dict[str, Any]) -> ChunkResult:
    cls = _report_types()[data["type"]]
    values = dict(data["report"])
    values["src"], values["dst"] = Path(values["src"]), Path(values["dst"])
    for name, value in values.items():
        if isinstance(value, dict):  # per-track tables: JSON made their keys strings
            values[name] = {int(k): v for k, v in value.items()}
    return ChunkResult(data["index"], cls(**values), frozenset(data["withheld"]),
                       frozenset(data["refused"]),
                       {int(t): [(b[0], tuple(b[1:])) for b in boxes]
                        for t, boxes in data["seen"].items()})


def video_settings(job: str, options: VideoOptions, **what: Any) -> str:
    """A job's settings as one string for the manifest (arrays by their digest; a
    ``custom`` function cannot be compared, so its chunks are never reused)."""
    def plain(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
        return repr(value)

    if what.pop("custom", False):
        what["run"] = secrets.token_hex(8)
    coded = {f.name: getattr(options, f.name) for f in fields(options)
             if f.compare and f.name != "progress"}  # (what changes the output)
    return json.dumps({"job": job, "video": coded, **{k: plain(v) for k, v in what.items()}},
                      sort_keys=True)


# --- tracks across chunks -------------------------------------------------------------------

def linked_tracks(results: list[ChunkResult]) -> dict[tuple[int, int], int]:
    """One id per track over the whole video: ``(chunk, track) -> id``, tracks of
    neighbouring chunks joined when their boxes overlap on a frame both processed."""
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def root(key: tuple[int, int]) -> tuple[int, int]:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    ordered = sorted(results, key=lambda r: r.index)
    for r in ordered:
        for table in (r.seen, r.refused, r.withheld, *_track_tables(r.report)):
            for track in table:
                root((r.index, track))
    for a, b in pairwise(ordered):
        if b.index != a.index + 1:
            continue
        for ta, boxes_a in a.seen.items():
            at = {}
            for i, box in boxes_a:
                at.setdefault(i, []).append(box)
            for tb, boxes_b in b.seen.items():
                if any(boxes_overlap(box, other) for i, box in boxes_b
                       for other in at.get(i, ())):
                    parent[root((b.index, tb))] = root((a.index, ta))
    ids: dict[tuple[int, int], int] = {}
    roots: dict[tuple[int, int], int] = {}
    for key in sorted(parent):
        ids[key] = roots.setdefault(root(key), len(roots))
    return ids


def withheld_needed(results: list[ChunkResult]) -> dict[int, frozenset[int]]:
    """For each chunk, the tracks it must keep as the input had them: every track linked
    to one the gate refused in any chunk."""
    ids = linked_tracks(results)
    bad = {ids[(r.index, t)] for r in results for t in r.refused}
    need: dict[int, set[int]] = {r.index: set() for r in results}
    for (index, track), group in ids.items():
        if group in bad and track >= 0:  # (negative: untracked regions, one frame each)
            need[index].add(track)
    return {i: frozenset(tracks) for i, tracks in need.items()}


def keep(results: dict[int, ChunkResult], result: ChunkResult, store: ChunkStore) -> None:
    """Add a chunk's result to ``results`` and save it (a chunk done again keeps the
    refusals of its earlier pass: a refusal stays one once the track is withheld)."""
    before = results.get(result.index)
    if before is not None:
        result.refused |= before.refused
    store.save(result)
    results[result.index] = result


def again(chunks: list[Chunk], results: dict[int, ChunkResult], dst: Path,
          log: Log) -> list[tuple[Chunk, frozenset[int]]]:
    """The chunks to do again, each with the tracks to withhold in it: those linked to a
    track refused in any chunk (said in one line when there are some)."""
    todo = [(chunks[i], results[i].withheld | tracks)
            for i, tracks in withheld_needed(list(results.values())).items()
            if not tracks <= results[i].withheld]
    if todo:
        log(f"{dst}: {len(todo)} chunk(s) again, with the tracks refused in a neighbouring "
            "chunk kept as the input had them")
    return todo


def resumed(done: int, chunks: list[Chunk], dst: Path, log: Log) -> None:
    """Say how many chunks an earlier run did, when some are done and some are not."""
    if 0 < done < len(chunks):
        log(f"{dst}: {done} of {len(chunks)} chunk(s) done by an earlier run")


def settle(chunks: list[Chunk], done: list[ChunkResult], store: ChunkStore, spread: Spread,
           log: Log = print) -> list[ChunkResult]:
    """Every chunk done (those ``done`` before reused, the others through ``spread``, each
    result saved in ``store`` as it comes), and done again with more tracks withheld until
    no track refused anywhere is restored in any chunk it reaches."""
    results = {r.index: r for r in done}
    resumed(len(results), chunks, store.dst, log)
    todo = [(c, frozenset[int]()) for c in chunks if c.index not in results]
    while todo:
        for result in spread(todo):
            keep(results, result, store)
        todo = again(chunks, results, store.dst, log)
    return [results[c.index] for c in chunks]


# --- one report for the whole video ---------------------------------------------------------

def _track_tables(report: VideoReport) -> list[dict[int, Any]]:
    return [v for f in fields(report) if isinstance(v := getattr(report, f.name), dict)]


def merge_reports(results: list[ChunkResult], report: VideoReport) -> VideoReport:
    """The chunks' reports added into ``report``: counts summed (each chunk counts the
    frames it writes; refusals also in the frames it shares), each per-track table keyed
    by the tracks' ids over the whole video."""
    ids = linked_tracks(results)
    for f in fields(report):
        if f.name in ("src", "dst", "seconds"):
            continue
        parts = [getattr(r.report, f.name) for r in results]
        mine = getattr(report, f.name)
        if isinstance(mine, dict):
            for r, table in zip(results, parts, strict=True):
                for track, entry in table.items():
                    add_entry(mine, ids[(r.index, track)], entry)
        elif isinstance(mine, list):
            for part in parts:
                mine += [x for x in part if x not in mine]
        elif isinstance(mine, bool) or not isinstance(mine, int | float) or f.name in (
                "width", "height"):
            setattr(report, f.name, parts[0] if parts else mine)
        else:  # counts and times (the join's own, audio packets, added to the chunks')
            setattr(report, f.name, mine + sum(parts))
    return report


@dataclass
class VideoJob:
    """One video's job, whole or in chunks: what the jobs build and :meth:`run` (here), or
    what a cluster runs a chunk at a time (:meth:`open` once, :meth:`work` per chunk, on
    workers; then :meth:`run` joins what is done).

    settings: what the job does (its model, options), in the manifest: a rerun with other
    settings starts over. work: processes one chunk into :func:`chunk_path`. whole: the
    job in one pass. empty: a new report for the whole video. metadata: the output's tags.
    """

    src: Path
    dst: Path
    options: VideoOptions
    settings: str
    work: ChunkWork
    whole: Callable[[], VideoReport]
    empty: Callable[[], VideoReport]
    metadata: dict[str, str] = field(default_factory=dict)

    def open(self, chunks: list[Chunk]) -> list[ChunkResult]:
        """Ready the chunk folder for ``chunks``; the chunks an earlier run did."""
        return ChunkStore(self.dst).open(self.src, self.settings, chunks)

    def run(self, log: Log = print) -> VideoReport:
        """In chunks when the video is long (:func:`plan_chunks`), else ``whole()``: the
        chunks not done yet run one after another, then are joined into ``dst``."""
        for stale in self.dst.parent.glob(f".{glob.escape(self.dst.name)}.*.part"):
            stale.unlink(missing_ok=True)  # what a killed job was writing
        chunks = plan_chunks(self.src, self.dst, self.options)
        if chunks is None:
            return self.whole()
        t0 = time.perf_counter()
        store = ChunkStore(self.dst)

        def here(todo: list[tuple[Chunk, frozenset[int]]]) -> Iterable[ChunkResult]:
            for chunk, withheld in todo:
                log(f"{self.src}: chunk {chunk.index + 1} of {len(chunks)} (frames "
                    f"{chunk.frames[0]}-{chunk.frames[1] - 1})")
                yield self.work(chunk, withheld)

        report = self.empty()
        try:
            results = settle(chunks, self.open(chunks), store, here, log)
            join_video(self.src, self.dst, [chunk_path(self.dst, c.index) for c in chunks],
                       self.options, metadata=self.metadata, log=log, report=report)
        except (InputError, Cancelled):
            store.clear()  # refused, unreadable, or dropped (the web app): nothing to resume
            raise
        store.clear()
        merge_reports(results, report)
        report.seconds = time.perf_counter() - t0
        return report
