"""Updates the tabs send often: an output emptied and hidden, or shown with a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr


def hidden() -> Any:
    return gr.update(value=None, visible=False)


def shown(path: str | Path | None, visible: bool = True) -> Any:
    return gr.update(value=None if path is None else str(path), visible=visible)
