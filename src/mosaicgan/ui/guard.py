"""Every failure of a page event as one line in the page: each tab has an error box (red)
that an event shows when it fails and hides when it succeeds, so an error stays in view
until the next action (a toast vanishes before it is read). The server goes on serving.
Expected failures (a bad file, a bad value, a model that does not fit) say what to fix;
anything else is named as unexpected and its traceback printed."""

from __future__ import annotations

import functools
import html
import inspect
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

from ..errors import Cancelled, MosaicganError
from .workspace import Workspace

EXPECTED = (MosaicganError, ValueError, OSError)
CANCELLED = "Cancelled: the job stopped and nothing was written."


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def message(workspace: Workspace, exc: BaseException) -> str:
    """The one line the page shows for an expected failure."""
    return workspace.short(one_line(exc))


class Problem(Exception):
    """A failure the page shows as it is (raised by :func:`fail`); ``updates``: what the
    event's other outputs become (default: left as they were)."""

    def __init__(self, text: str, updates: Sequence[Any] | None = None):
        super().__init__(text)
        self.text = text
        self.updates = None if updates is None else tuple(updates)


def fail(text: str, updates: Sequence[Any] | None = None) -> Problem:
    """An error the page shows as it is (raise it)."""
    return Problem(text, updates)


def refused_upload(workspace: Workspace, exc: BaseException, updates: Sequence[Any]
                   ) -> Problem:
    """An upload that cannot be used, refused with the reason (the tab emptied and the
    upload box with it, so the next file can be dropped at once)."""
    return Problem(f"Not used. {message(workspace, exc)}", updates)


def error_box(elem_id: str) -> gr.HTML:
    """The tab's error line: hidden until an event fails."""
    return gr.HTML("", visible=False, elem_id=elem_id, elem_classes=["mg-error"])


def show_error(text: str) -> Any:
    # (escaped: a message may quote a file name or a box line as the user typed it)
    return gr.update(value=f"<p role='alert'>{html.escape(text)}</p>", visible=True)


def no_error() -> Any:
    return gr.update(value="", visible=False)


class Events:
    """A tab's events, each with the tab's error box as its last output: hidden when the
    event succeeds, showing the failure when it does not."""

    def __init__(self, workspace: Workspace, elem_id: str):
        self.workspace = workspace
        self.box = error_box(elem_id)

    def on(self, trigger: Callable[..., Any], fn: Callable[..., Any], inputs: Any,
           outputs: Any, cancel: gr.Button | None = None, **kwargs: Any) -> Any:
        """``trigger(fn, inputs, outputs + [the error box], **kwargs)``; with ``cancel``,
        a job: that button is enabled as it starts and disabled when it is done."""
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if cancel is not None:
            fn = armed(fn, len(outs))
            outs.append(cancel)
        return trigger(self.guarded(fn, len(outs)), inputs, [*outs, self.box], **kwargs)

    def guarded(self, fn: Callable[..., Any], n: int) -> Callable[..., Any]:
        """``fn``'s outputs (``n`` of them) and the error box's update; its failures become
        the box's line (paths inside the workspace shortened to file names). A generator
        function's steps each get the box's update."""
        def done(result: Any) -> tuple[Any, ...]:
            return (*(result if n > 1 else (result,)), no_error())

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)  # (keeps the signature: gradio reads its Progress default)
            def steps(*args: Any, **kwargs: Any) -> Any:
                try:
                    for result in fn(*args, **kwargs):
                        yield done(result)
                except Exception as exc:
                    yield self.failed(exc, n)
            return steps

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return done(fn(*args, **kwargs))
            except Exception as exc:
                return self.failed(exc, n)
        return run

    def failed(self, exc: Exception, n: int) -> tuple[Any, ...]:
        """The outputs of an event that raised ``exc``: the others as ``exc`` says (left
        as they were by default), the box showing why."""
        workspace, updates = self.workspace, None
        if isinstance(exc, Cancelled):  # not an error: Cancel's own handler says so
            return (*(gr.update(),) * n, no_error())
        if isinstance(exc, Problem):
            text, updates = workspace.short(exc.text), exc.updates
        elif isinstance(exc, EXPECTED):
            text = message(workspace, exc)
        else:
            traceback.print_exc(file=sys.stderr)
            text = (f"unexpected error ({type(exc).__name__}: "
                    f"{workspace.short(one_line(exc))}); the server goes on")
        return (*(updates if updates is not None else (gr.update(),) * n), show_error(text))


def armed(fn: Callable[..., Any], n: int) -> Callable[..., Any]:
    """``fn`` (a job with ``n`` outputs) in two steps, a Cancel button after its outputs:
    enabled as it starts (a second listener on the same click would run only after the
    job), then ``fn``'s outputs with the button disabled."""
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        yield (*(gr.update(),) * n, gr.update(interactive=True))
        result = fn(*args, **kwargs)
        yield (*(result if n > 1 else (result,)), gr.update(interactive=False))
    return run


# Progress defaults for event functions (gradio gives each call its own tracker; these only
# tell it to, one with tqdm bars tracked: the video jobs report frames through tqdm).
PROGRESS = gr.Progress()
TRACKED = gr.Progress(track_tqdm=True)
