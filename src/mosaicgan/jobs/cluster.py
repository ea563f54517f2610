"""Batches on Ray (``--cluster``): the same per-file job as without it, on worker processes
that each load the job's models once.

The driver plans the batch (:func:`~mosaicgan.jobs.batch.plan_batch`: names, clashes,
``--resume``), says what it leaves out, hands the targets to the workers one at a time
(a worker that finishes takes the next: long and short files balance themselves), and
for each finished input says its lines, merges its report and adds it to the record, so
an interrupted batch resumes where it stopped. A long video is cut in chunks
(:mod:`mosaicgan.video.chunks`) that run on several workers side by side; the driver
keeps their results, sends chunks again where a track refused in one chunk reaches
another, and then hands the video's own job to a worker, which finds every chunk done
and joins them. Ray is an optional extra.
"""

from __future__ import annotations

import math
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any

import cv2

from ..errors import InputError, MosaicganError
from ..options import ClusterOptions, Log, VideoOptions
from ..video.chunks import ChunkResult, ChunkStore, again, keep, plan_chunks, resumed
from ..video.io import Chunk, is_video
from .batch import (
    BatchReport,
    FileJobs,
    Plan,
    Target,
    begin_batch,
    record_failure,
    record_written,
    run_batch,
    run_target,
)

# Builds a batch's file jobs, given the report and the log they write to; called once per
# process (the driver without a cluster, each worker with one), so models load once there.
JobMaker = Callable[[BatchReport, Log], FileJobs]
INSTALL = 'pip install "mosaicgan[cluster]"'


def run_files(plan: Plan, report: BatchReport, log: Log, make_jobs: JobMaker,
              cluster: ClusterOptions | None = None,
              video: VideoOptions | None = None) -> BatchReport:
    """Run ``plan`` here (``cluster`` None) or on Ray workers; the same report either way.
    ``video``: the batch's video options, for jobs whose videos can be cut in chunks
    (:attr:`FileJobs.chunked <mosaicgan.jobs.batch.FileJobs>`; None: each video whole)."""
    if cluster is None:
        jobs = make_jobs(report, log)
        return run_batch(plan, report, log, jobs.image, jobs.video)
    return run_on_cluster(plan, report, log, make_jobs, cluster, video)


@dataclass
class Done:
    """What a worker did with one item: the file written (None: failed, skipped, or not a
    whole file), its part of the report, the lines it logged, and a chunk's results."""

    written: Path | None
    report: BatchReport
    lines: list[str]
    ok: bool = True
    chunks: list[ChunkResult] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    """A worker's item: a whole input (``chunk`` None, ``opening`` False), the opening of a
    long video's chunk folder (``opening``), or one of its chunks."""

    target: Target
    opening: tuple[Chunk, ...] = ()
    chunk: Chunk | None = None
    withheld: frozenset[int] = frozenset()

    @property
    def whole(self) -> bool:
        return self.chunk is None and not self.opening


def _file_runner(make_jobs: JobMaker) -> Callable[[_Item], Done]:
    """A worker's function for a batch: the file jobs built once, then one item a call."""
    report, lines = BatchReport(), []
    jobs = make_jobs(report, lines.append)

    def run(item: _Item) -> Done:
        target = item.target
        if item.whole:
            written = run_target(target, report, lines.append, jobs.image, jobs.video)
            done = Done(written, _taken(report), list(lines))
        else:
            if jobs.chunked is None:
                raise TypeError("the batch's jobs cannot cut a video in chunks; run it "
                                "without video options")
            try:
                job = jobs.chunked(target.src, target.out)
                results = job.open(list(item.opening)) if item.opening else \
                    [job.work(item.chunk, item.withheld)]
                done = Done(None, _taken(report), list(lines), chunks=results)
            except (MosaicganError, OSError, cv2.error) as exc:
                record_failure(target, exc, report, lines.append)
                done = Done(None, _taken(report), list(lines), ok=False)
        lines.clear()
        return done

    return run


def _taken(report: BatchReport) -> BatchReport:
    """A copy of what ``report`` holds, and ``report`` emptied (the jobs keep writing to it)."""
    copy = BatchReport()
    for f in fields(BatchReport):
        held = getattr(report, f.name)
        setattr(copy, f.name, type(held)(held))
        held.clear()
    return copy


def _merge(report: BatchReport, part: BatchReport) -> None:
    """Add what ``part`` holds to ``report`` (every list extended, the dict updated)."""
    for f in fields(BatchReport):
        held = getattr(report, f.name)
        if isinstance(held, dict):
            held.update(getattr(part, f.name))
        else:
            held.extend(getattr(part, f.name))


def _raise(error: tuple[type, str]) -> None:
    kind, message = error
    if issubclass(kind, InputError):  # (its constructor takes the path and the problem)
        raise InputError(None, message)
    raise kind(message)


def worker_cpus(cpus: float, workers: int | None) -> tuple[int, float]:
    """How many workers, and the CPUs each gets (whole CPUs where there are enough: its
    threads; a fraction where more workers than CPUs were asked for)."""
    count = workers or max(1, int(cpus))
    share = cpus / count
    return count, float(math.floor(share)) if share >= 1 else share


def connect(options: ClusterOptions) -> bool:
    """Join or start Ray; True when this call started it (and so stops it)."""
    try:
        import ray
    except ImportError:
        raise MosaicganError(f"--cluster needs Ray, an optional extra: {INSTALL}") from None
    if ray.is_initialized():
        return False
    settings = {"include_dashboard": False, "configure_logging": False}
    if options.address in (None, "local"):
        # A local instance this process starts sends Ray's usage statistics nowhere (an
        # anonymiser tells no one it ran; a cluster someone started keeps its own setting).
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    before = signal.getsignal(signal.SIGTERM)
    try:
        # "local": a new instance with every CPU of this machine, even where `ray start`
        # runs one (plain ray.init() would join that).
        ray.init(address=options.address or "local", **settings)
    except ConnectionError as exc:
        raise MosaicganError(f"cannot reach the Ray cluster at {options.address}: "
                             f"{exc}") from None
    finally:
        # ray.init takes SIGTERM for itself and keeps it after shutdown: the caller's
        # handler (the command line's: clean up as Ctrl-C does) comes back.
        if before is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, before)
    return True


@contextmanager
def _actors(cls: type, args: tuple, options: ClusterOptions, most: int) -> Iterator[list[Any]]:
    """Up to ``most`` Ray actors of ``cls(*args)`` (Ray joined or started for the block,
    and stopped after it when started here), each given its share of the CPUs."""
    started = connect(options)
    import ray

    try:
        count, share = worker_cpus(ray.cluster_resources().get("CPU", 1.0), options.workers)
        remote = ray.remote(num_cpus=share)(cls)
        yield [remote.remote(*args) for _ in range(min(count, most))]
    finally:
        if started:
            ray.shutdown()


class Mapper:
    """A Ray actor's state: a function built once (its models loaded), called per item."""

    def __init__(self, make: Callable[[], Callable[[Any], Any]]):
        self.error: tuple[type, str] | None = None
        try:
            self.fn = make()
        except MosaicganError as exc:  # a missing model: said once by the driver
            self.error = (type(exc), str(exc))

    def ready(self) -> tuple[type, str] | None:
        """Why the function could not be built (None: ready)."""
        return self.error

    def run(self, index: int, item: Any) -> tuple[int, Any]:
        return index, self.fn(item)


QUEUED = 2  # calls a worker holds at most: the next short item waits there, not here


class _Pool:
    """Ray actors and the calls each holds (an actor runs its calls one at a time, in
    order). A short item may wait behind another on a busy worker, so the worker starts
    it as soon as it is done (not after a round trip through this process: about 30 ms an
    item, a sixth of a small photo's time); a long one (a video, a chunk) goes only to an
    idle worker, so none ends up waiting behind another while a worker is free."""

    def __init__(self, workers: list[Any]) -> None:
        self.load = dict.fromkeys(workers, 0)
        self.calls: dict[Any, Any] = {}  # the call's ObjectRef -> its worker

    def free(self, long: bool) -> Any | None:
        """The least loaded worker that may take an item now, or None."""
        worker = min(self.load, key=self.load.__getitem__)
        return worker if self.load[worker] < (1 if long else QUEUED) else None

    def submit(self, worker: Any, index: int, item: Any) -> None:
        self.calls[worker.run.remote(index, item)] = worker
        self.load[worker] += 1

    def busy(self) -> bool:
        return bool(self.calls)

    def next(self) -> tuple[int, Any]:
        """The first call to finish: ``(index, result)``."""
        import ray

        (done,), _ = ray.wait(list(self.calls), num_returns=1)
        self.load[self.calls.pop(done)] -= 1
        return ray.get(done)


def _ready(workers: list[Any]) -> None:
    """Wait until every worker has built its function; raise the first one's error."""
    import ray  # (joined by _actors(), which says how to install it when it is missing)

    for error in ray.get([w.ready.remote() for w in workers]):
        if error is not None:
            _raise(error)


def _finished(make: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
              options: ClusterOptions, desc: str, unit: str) -> Iterator[tuple[int, Any]]:
    """``(index, make()(items[index]))`` as Ray workers finish them (each worker calls
    ``make`` once and takes the next item when it is done), with a progress bar."""
    from tqdm import tqdm

    with _actors(Mapper, (make,), options, len(items)) as workers:
        _ready(workers)
        pool, todo = _Pool(workers), deque(enumerate(items))
        with tqdm(total=len(items), unit=unit, desc=desc or f"{len(workers)} worker(s)",
                  disable=None) as bar:
            while todo or pool.busy():
                while todo and (worker := pool.free(long=False)) is not None:
                    pool.submit(worker, *todo.popleft())
                index, result = pool.next()
                with tqdm.external_write_mode():  # (what the caller says, above the bar)
                    yield index, result
                bar.update()


def cluster_map(make: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
                options: ClusterOptions, desc: str = "") -> list[Any]:
    """``[make()(item) for item in items]``, on Ray workers that each call ``make`` once
    (loading its models); results in the items' order."""
    results: list[Any] = [None] * len(items)
    if items:
        for index, result in _finished(make, items, options, desc, "item"):
            results[index] = result
    return results


def run_on_cluster(plan: Plan, report: BatchReport, log: Log, make_jobs: JobMaker,
                   options: ClusterOptions, video: VideoOptions | None = None) -> BatchReport:
    """Run ``plan``'s targets on Ray workers (see the module's docstring): a long video's
    chunks side by side, then its join."""
    from tqdm import tqdm

    begin_batch(plan, report, log)
    if not plan.targets:
        return report
    items: deque[_Item] = deque()
    videos: dict[Path, _Chunked] = {}
    for target in plan.targets:
        chunks = _chunks_of(target, video)
        if chunks:
            videos[target.out] = _Chunked(chunks)
            items.append(_Item(target, opening=tuple(chunks)))
            log(f"{target.src}: {len(chunks)} chunks, side by side on the workers")
        else:
            items.append(_Item(target))
    most = len(plan.targets) + sum(len(v.chunks) for v in videos.values())
    with _actors(Mapper, (partial(_file_runner, make_jobs),), options, most) as workers:
        _ready(workers)
        pool = _Pool(workers)
        sent: list[_Item] = []
        with tqdm(total=len(items), unit="item", desc=f"{len(workers)} worker(s)",
                  disable=None) as bar:
            while items or pool.busy():
                while items and (worker := pool.free(_long(items[0]))) is not None:
                    item = items.popleft()
                    chunked = videos.get(item.target.out)
                    if chunked is not None and chunked.failed:  # (its other chunks dropped)
                        chunked.take(item, None, log)
                        bar.update()
                        continue
                    sent.append(item)
                    pool.submit(worker, len(sent) - 1, item)
                if not pool.busy():
                    continue
                index, done = pool.next()
                item = sent[index]
                with tqdm.external_write_mode():
                    for line in done.lines:
                        log(line)
                    _merge(report, done.report)
                    if item.whole:
                        if done.written is not None:
                            record_written(plan, item.target, done.written)
                    else:
                        more = videos[item.target.out].take(item, done, log)
                        bar.total += len(more)
                        items.extend(more)
                bar.update()
    return report


@dataclass
class _Chunked:
    """The driver's view of a long video's chunks on the cluster: what is done (each result
    saved in the chunk folder as it comes), how many of its chunks are queued or running,
    and whether it failed (its chunk folder removed once none runs)."""

    chunks: list[Chunk]
    results: dict[int, ChunkResult] = field(default_factory=dict)
    pending: int = 0
    failed: bool = False

    def take(self, item: _Item, done: Done | None, log: Log) -> list[_Item]:
        """A finished item of this video (``done`` None: dropped, the video failed): the
        items to run next (its chunks, chunks again with more tracks withheld, or its
        join: the whole file's job, which finds every chunk done)."""
        target = item.target
        store = ChunkStore(target.out)
        if item.chunk is not None:
            self.pending -= 1
        if done is None or not done.ok or self.failed:
            self.failed = True
            if self.pending == 0:
                store.clear()
            return []
        if item.opening:
            resumed(len(done.chunks), self.chunks, target.out, log)
            self.results = {r.index: r for r in done.chunks}
            return self._queued([_Item(target, chunk=c) for c in self.chunks
                                 if c.index not in self.results]) or self._next(target, log)
        for result in done.chunks:
            keep(self.results, result, store)
        return self._next(target, log) if self.pending == 0 else []

    def _queued(self, chunk_items: list[_Item]) -> list[_Item]:
        self.pending += len(chunk_items)
        return chunk_items

    def _next(self, target: Target, log: Log) -> list[_Item]:
        todo = again(self.chunks, self.results, target.out, log)
        return self._queued([_Item(target, chunk=c, withheld=w) for c, w in todo]) if todo \
            else [_Item(target)]


def _long(item: _Item) -> bool:
    """Whether an item takes long (a video, or one of its chunks; opening its chunk
    folder does not)."""
    return item.chunk is not None or (item.whole and is_video(item.target.src))


def _chunks_of(target: Target, video: VideoOptions | None) -> list[Chunk] | None:
    """A long video's chunks (None: a whole file's job, which says what is wrong with it)."""
    if video is None or not is_video(target.src):
        return None
    try:
        return plan_chunks(target.src, target.out, video)
    except (MosaicganError, OSError):
        return None
