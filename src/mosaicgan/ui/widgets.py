"""Updates the tabs send often: an output emptied and hidden, or shown with a file; a
button enabled or not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr


def hidden() -> Any:
    return gr.update(value=None, visible=False)


def shown(path: str | Path | None, visible: bool = True, label: str | None = None) -> Any:
    extra = {} if label is None else {"label": label}
    return gr.update(value=None if path is None else str(path), visible=visible, **extra)


def enabled(flag: bool) -> Any:
    return gr.update(interactive=bool(flag))


def cancel_button(elem_id: str) -> gr.Button:
    """A tab's Cancel: enabled while one of its jobs runs."""
    return gr.Button("Cancel", variant="stop", interactive=False, elem_id=elem_id)
