"""A tab's Cancel button: enabled while one of its jobs runs; clicking it cancels the
event (gradio's ``cancels=``) and sets the job's flag, which the job reads between batches
of frames and stops on (a thread cannot be stopped from outside), its output removed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Event
from typing import Any

import gradio as gr

from ..errors import Cancelled
from .context import Context
from .guard import CANCELLED, Events, no_error
from .widgets import enabled

STOP_WAIT = 60.0  # s: how long Cancel waits for the job to end before it says so
STOPPING = "Cancelling: the job stops after the step it is on; nothing will be written."


@contextmanager
def job(ctx: Context, request: gr.Request, tab: str, out_dir: Path) -> Iterator[Event]:
    """The flag a job run in ``tab`` passes on (``VideoOptions.cancel``). A job that was
    asked to stop leaves nothing in ``out_dir``, even one that finished meanwhile (an
    image job runs whole)."""
    with ctx.running.job(request.session_hash, tab) as stop:
        try:
            yield stop
            if stop.is_set():
                raise Cancelled(CANCELLED)
        except Cancelled:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise


def cancellable(ctx: Context, cancel: gr.Button, jobs: list[Any], status: gr.Markdown,
                tab: str, events: Events) -> None:
    """Clicking ``cancel`` stops the running one of ``jobs`` (events given ``cancel=`` by
    :meth:`Events.on`, which enable it as they start) and says so in ``status``."""
    for event in jobs:  # (off again after a failure too)
        event.then(lambda: enabled(False), None, cancel, concurrency_limit=None,
                   show_progress="hidden")

    def stop(request: gr.Request) -> tuple[Any, ...]:
        # (it ends after the batch of frames it is on: seconds at most)
        ended = ctx.running.cancel(request.session_hash, tab, wait=STOP_WAIT)
        said = gr.update() if ended is None else CANCELLED if ended else STOPPING
        return enabled(False), said, no_error()

    cancel.click(stop, None, [cancel, status, events.box], cancels=jobs,
                 concurrency_limit=None, show_progress="hidden")
