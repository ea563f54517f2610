"""The jobs running now, one per browser session and tab, each with the flag its Cancel
button sets. Gradio's ``cancels=`` stops waiting for a job, but a job running in a thread
cannot be interrupted from outside: it reads this flag between batches of frames
(``VideoOptions.cancel``) and stops itself. No gradio here."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Running:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (session, tab) -> (the flag the job reads, set by it when it has ended)
        self._jobs: dict[tuple[str, str], tuple[threading.Event, threading.Event]] = {}

    @contextmanager
    def job(self, session: str, tab: str) -> Iterator[threading.Event]:
        """A new flag for the job about to run (a new one each time: a job cancelled
        a moment ago may still be finishing its batch, and must still see its own)."""
        flag, ended = threading.Event(), threading.Event()
        key = (session, tab)
        with self._lock:
            self._jobs[key] = (flag, ended)
        try:
            yield flag
        finally:
            ended.set()
            with self._lock:
                if self._jobs.get(key, (None,))[0] is flag:
                    del self._jobs[key]

    def cancel(self, session: str, tab: str, wait: float = 0.0) -> bool | None:
        """Ask the session's job in ``tab`` to stop, and wait up to ``wait`` seconds for it
        to end (so the page says "stopped" only once it has): whether it has; None when
        none runs."""
        with self._lock:
            running = self._jobs.get((session, tab))
        if running is None:
            return None
        flag, ended = running
        flag.set()
        return ended.wait(wait)
