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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
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

    index: int
    written: Path | None
    report: BatchReport
    lines: list[str]


class Worker:
    """A Ray actor's state: the batch's file jobs, built once, run one input at a time."""

    def __init__(self, make_jobs: JobMaker):
        self.lines: list[str] = []
        self.report = BatchReport()
        self.error: tuple[type, str] | None = None
        self.jobs: tuple[FileJob, FileJob | None] | None = None
        try:
            self.jobs = make_jobs(self.report, self.lines.append)
        except MosaicganError as exc:  # a missing model: said once by the driver
            self.error = (type(exc), str(exc))

    def ready(self) -> tuple[type, str] | None:
        """Why the jobs could not be built (None: ready)."""
        return self.error

    def run(self, index: int, target: Target) -> Done:
        assert self.jobs is not None
        written = run_target(target, self.report, self.lines.append, *self.jobs)
        done = Done(index, written, _taken(self.report), list(self.lines))
        self.lines.clear()
        return done


def _taken(report: BatchReport) -> BatchReport:
    """A copy of what ``report`` holds, and ``report`` emptied (the jobs keep writing to it)."""
    copy = BatchReport()
    for f in fields(BatchReport):
        held = getattr(report, f.name)
        setattr(copy, f.name, type(held)(held))
        held.clear()
    return copy


def _merge(report: BatchReport, part: BatchReport) -> None:
    report.written += part.written
    report.failed += part.failed
    report.skipped += part.skipped
    report.notes += part.notes
    report.details.update(part.details)


def _raise(error: tuple[type, str]) -> None:
    kind, message = error
    if issubclass(kind, InputError):
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
    try:
        # "local": a new instance with every CPU of this machine, even where `ray start`
        # runs one (plain ray.init() would join that).
        ray.init(address=options.address or "local", **settings)
    except ConnectionError as exc:
        raise MosaicganError(f"cannot reach the Ray cluster at {options.address}: "
                             f"{exc}") from None
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
    """A Ray actor's state for :func:`cluster_map`: the function, built once."""

    def __init__(self, make: Callable[[], Callable[[Any], Any]]):
        self.fn = make()

    def run(self, index: int, item: Any) -> tuple[int, Any]:
        return index, self.fn(item)


def cluster_map(make: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
                options: ClusterOptions, desc: str = "") -> list[Any]:
    """``[make()(item) for item in items]``, on Ray workers that each call ``make`` once
    (loading its models); results in the items' order, a progress bar as they finish."""
    if not items:
        return []
    from tqdm import tqdm

    results: list[Any] = [None] * len(items)
    with _actors(Mapper, (make,), options, len(items)) as workers, \
            tqdm(total=len(items), desc=desc or f"{len(workers)} worker(s)",
                 disable=None) as bar:
        from ray.util import ActorPool

        for index, result in ActorPool(workers).map_unordered(
                lambda w, job: w.run.remote(*job), list(enumerate(items))):
            results[index] = result
            bar.update()
    return results


def run_on_cluster(plan: Plan, report: BatchReport, log: Log, make_jobs: JobMaker,
                   options: ClusterOptions) -> BatchReport:
    """Run ``plan``'s targets on Ray workers (see the module's docstring)."""
    begin_batch(plan, report, log)
    if not plan.targets:
        return report
    from tqdm import tqdm

    with _actors(Worker, (make_jobs,), options, len(plan.targets)) as workers:
        import ray  # (joined by _actors(), which says how to install it when it is missing)
        from ray.util import ActorPool

        for error in ray.get([w.ready.remote() for w in workers]):
            if error is not None:
                _raise(error)
        bar = tqdm(total=len(plan.targets), unit="file", desc=f"{len(workers)} worker(s)",
                   disable=None)
        with bar:
            for done in ActorPool(workers).map_unordered(lambda w, job: w.run.remote(*job),
                                                         list(enumerate(plan.targets))):
                with tqdm.external_write_mode():
                    for line in done.lines:
                        log(line)
                _merge(report, done.report)
                if done.written is not None:
                    record_written(plan, plan.targets[done.index], done.written)
                bar.update()
    return report
