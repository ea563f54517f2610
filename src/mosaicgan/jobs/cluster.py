"""Batches on Ray (``--cluster``): the same per-file job as without it, on worker processes
that each load the job's models once.

The driver plans the batch (:func:`~mosaicgan.jobs.batch.plan_batch`: names, clashes,
``--resume``), says what it leaves out, hands the targets to the workers one at a time
(a worker that finishes takes the next: long and short files balance themselves), and
for each finished input says its lines, merges its report and adds it to the record, so
an interrupted batch resumes where it stopped. Ray is an optional extra.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InputError, MosaicganError
from ..options import ClusterOptions, Log
from .batch import (
    BatchReport,
    FileJob,
    Plan,
    Target,
    begin_batch,
    record_written,
    run_batch,
    run_target,
)

# Builds a batch's file jobs, given the report and the log they write to; called once per
# process (the driver without a cluster, each worker with one), so models load once there.
JobMaker = Callable[[BatchReport, Log], tuple[FileJob, FileJob | None]]
INSTALL = 'pip install "mosaicgan[cluster]"'


def run_files(plan: Plan, report: BatchReport, log: Log, make_jobs: JobMaker,
              cluster: ClusterOptions | None = None) -> BatchReport:
    """Run ``plan`` here (``cluster`` None) or on Ray workers; the same report either way."""
    if cluster is None:
        image, video = make_jobs(report, log)
        return run_batch(plan, report, log, image, video)
    return run_on_cluster(plan, report, log, make_jobs, cluster)


@dataclass
class Done:
    """What a worker did with one input: the file written (None: failed or skipped), its
    part of the report, and the lines it logged."""

    written: Path | None
    report: BatchReport
    lines: list[str]


def _file_runner(make_jobs: JobMaker) -> Callable[[Target], Done]:
    """A worker's function for a batch: the file jobs built once, then one input a call."""
    report, lines = BatchReport(), []
    jobs = make_jobs(report, lines.append)

    def run(target: Target) -> Done:
        written = run_target(target, report, lines.append, *jobs)
        done = Done(written, _taken(report), list(lines))
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


def _finished(make: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
              options: ClusterOptions, desc: str, unit: str) -> Iterator[tuple[int, Any]]:
    """``(index, make()(items[index]))`` as Ray workers finish them (each worker calls
    ``make`` once and takes the next item when it is done), with a progress bar."""
    from tqdm import tqdm

    with _actors(Mapper, (make,), options, len(items)) as workers:
        import ray  # (joined by _actors(), which says how to install it when it is missing)
        from ray.util import ActorPool

        for error in ray.get([w.ready.remote() for w in workers]):
            if error is not None:
                _raise(error)
        with tqdm(total=len(items), unit=unit, desc=desc or f"{len(workers)} worker(s)",
                  disable=None) as bar:
            for index, result in ActorPool(workers).map_unordered(
                    lambda w, job: w.run.remote(*job), list(enumerate(items))):
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
                   options: ClusterOptions) -> BatchReport:
    """Run ``plan``'s targets on Ray workers (see the module's docstring)."""
    begin_batch(plan, report, log)
    if not plan.targets:
        return report
    for index, done in _finished(partial(_file_runner, make_jobs), plan.targets, options,
                                 "", "file"):
        for line in done.lines:
            log(line)
        _merge(report, done.report)
        if done.written is not None:
            record_written(plan, plan.targets[index], done.written)
    return report
