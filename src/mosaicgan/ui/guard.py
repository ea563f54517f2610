"""Every failure of a page event as one line in the page (a Gradio error toast); the
server goes on serving. Expected failures (a bad file, a bad value, a model that does not
fit) say what to fix; anything else is named as unexpected and its traceback printed."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from ..errors import MosaicganError
from .workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])
EXPECTED = (MosaicganError, ValueError, OSError)


def one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def message(workspace: Workspace, exc: BaseException) -> str:
    """The one line the page shows for an expected failure."""
    return workspace.short(one_line(exc))


def refused_upload(workspace: Workspace, exc: BaseException) -> str:
    """The status line for an upload that cannot be used (the upload box is emptied, so
    the next file can be dropped at once)."""
    return f"**Not used.** {message(workspace, exc)}"


def guarded(workspace: Workspace) -> Callable[[F], F]:
    """A decorator: the event's failures become one gr.Error line (paths inside the
    workspace shortened to file names)."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)  # (keeps the signature: gradio reads its Progress default)
        def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except EXPECTED as exc:
                raise gr.Error(message(workspace, exc), print_exception=False) from None
            except Exception as exc:
                traceback.print_exc(file=sys.stderr)
                raise gr.Error(f"unexpected error ({type(exc).__name__}: "
                               f"{workspace.short(one_line(exc))}); the server goes on",
                               print_exception=False) from None
        return run  # type: ignore[return-value]
    return wrap


def fail(message: str) -> gr.Error:
    """An error the page shows as it is (raise it)."""
    return gr.Error(message, print_exception=False)


# Progress defaults for event functions (gradio gives each call its own tracker; these only
# tell it to, one with tqdm bars tracked: the video jobs report frames through tqdm).
PROGRESS = gr.Progress()
TRACKED = gr.Progress(track_tqdm=True)
