"""Stages on their own threads, joined by bounded queues: decode, compute and encode overlap.

PyAV's decoder and encoder, swscale, x264, ONNX Runtime and torch release the GIL while
they work, so a video's decoding, its processor and its encoder run side by side on
separate cores. Each queue holds at most ``depth`` items, so memory stays bounded
whatever the video's length; items keep their order (one thread per stage, FIFO queues).

The first exception in any stage stops every stage: the others see the shared
:class:`Stop` flag at their next queue operation, and the exception itself (its type and
message unchanged) is raised in the thread that drives the pipeline.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()  # after a stage's last item
POLL = 0.05  # seconds a blocked queue operation waits before it looks at the stop flag


class Stopped(Exception):
    """Raised in a stage whose pipeline stopped for another stage's error."""


class Stop:
    """The pipeline's shared state: the first error, and whether everything must stop."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def fail(self, exc: BaseException) -> None:
        """Record ``exc`` (the first one wins) and stop every stage."""
        with self._lock:
            if self.error is None and not isinstance(exc, Stopped):
                self.error = exc
        self._event.set()

    def halt(self) -> None:
        """Stop every stage without an error of its own (the driving thread's)."""
        self._event.set()

    @property
    def stopped(self) -> bool:
        return self._event.is_set()

    def raise_error(self) -> None:
        """Re-raise the recorded error, if any, in the calling thread."""
        if self.error is not None:
            raise self.error

    def put(self, q: queue.Queue, item: object) -> None:
        """``q.put(item)``, waiting while the queue is full, until the pipeline stops."""
        while True:
            if self.stopped:
                raise Stopped
            try:
                q.put(item, timeout=POLL)
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> object:
        """``q.get()``, waiting while the queue is empty, until the pipeline stops."""
        while True:
            if self.stopped:
                raise Stopped
            try:
                return q.get(timeout=POLL)
            except queue.Empty:
                continue


class _Stage:
    """A worker thread running ``work`` and its bounded queue; ``busy_seconds`` is the time
    it spent on its own items (producing or consuming them), waits excluded."""

    def __init__(self, work: Callable[[], None], depth: int, stop: Stop, name: str) -> None:
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self._stop = stop
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self.busy_seconds = 0.0
        self._work = work
        self._thread = threading.Thread(target=self._guarded, name=f"mosaicgan-{name}",
                                        daemon=True)
        self._thread.start()

    def _guarded(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # handed to the driving thread
            self._stop.fail(exc)

    @contextmanager
    def _busy(self) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.busy_seconds += time.perf_counter() - t0

    def join(self) -> None:
        self._thread.join()


class Source(_Stage, Generic[T]):
    """Iterates ``items`` on a worker thread, at most ``depth`` items ahead of the reader.

    Iterating the Source yields them in order; an exception raised while producing them is
    raised from the iteration.
    """

    def __init__(self, items: Callable[[], Iterable[T]], depth: int, stop: Stop,
                 name: str = "source") -> None:
        self._items = items
        super().__init__(self._produce, depth, stop, name)

    def _produce(self) -> None:
        it = iter(self._items())
        while True:
            with self._busy():
                item = next(it, _END)
            self._stop.put(self._queue, item)
            if item is _END:
                return

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._stop.get(self._queue)
            except Stopped:
                self._stop.raise_error()
                raise
            if item is _END:
                return
            yield item  # type: ignore[misc]


class Sink(_Stage, Generic[T]):
    """Calls ``consume(item)`` on a worker thread for each item put, in order, at most
    ``depth`` items behind.

    ``put`` and ``close`` raise the first exception of any stage; ``close`` waits until
    every item is consumed.
    """

    def __init__(self, consume: Callable[[T], None], depth: int, stop: Stop,
                 name: str = "sink") -> None:
        self._consume = consume
        super().__init__(self._drain, depth, stop, name)

    def _drain(self) -> None:
        while (item := self._stop.get(self._queue)) is not _END:
            with self._busy():
                self._consume(item)  # type: ignore[arg-type]

    def put(self, item: T) -> None:
        try:
            self._stop.put(self._queue, item)
        except Stopped:
            self._stop.raise_error()
            raise

    def close(self) -> None:
        """Wait until everything put is consumed; raise the pipeline's error, if any."""
        self.put(_END)  # type: ignore[arg-type]
        self._thread.join()
        self._stop.raise_error()


def stop_all(stop: Stop, *stages: _Stage) -> None:
    """Stop the pipeline and wait for its threads (after an error in the driving thread,
    before the files they use are closed)."""
    stop.halt()
    for stage in stages:
        stage.join()
