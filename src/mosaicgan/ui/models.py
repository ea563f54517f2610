"""The Models tab: what each model the server knows is (kind, what it does, training
size, steps, size on disk) and its model card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from .. import api
from .context import Context

COLUMNS = ["model", "does", "kind", "trained at", "steps", "MB", "source"]


def rows(models: list[api.ModelInfo]) -> list[list[str]]:
    return [[m.name, m.task, m.kind, f"{m.size} px" if m.size else "?", str(m.steps),
             f"{m.megabytes:.1f}", m.source] for m in models]


def build(ctx: Context, pickers: dict[str, gr.Dropdown]) -> tuple[Callable[[], Any], list]:
    """The tab; returns its refresh (every model list on the page read again: the tables
    here and ``pickers``, the other tabs' model menus by task) and what it updates."""
    models = ctx.models()
    rescan = gr.Button("Look for new runs", size="sm", elem_id="models-rescan")
    table = gr.Dataframe(rows(models), headers=COLUMNS, interactive=False,
                         elem_id="models-table", label="Models")
    pick = gr.Dropdown([(m.name, m.source) for m in models], value=models[0].source,
                       label="Model card", elem_id="models-pick")
    card = gr.Markdown(models[0].card or "_no model card_", elem_id="models-card")

    def show(source: str) -> str:
        info = next((m for m in ctx.models() if m.source == source), None)
        return (info.card or "_no model card_") if info else "_no such model_"

    def refresh() -> tuple[Any, ...]:
        found = ctx.models()
        return (rows(found), gr.update(choices=[(m.name, m.source) for m in found]),
                *(gr.update(choices=ctx.choices(task)) for task in pickers))

    outputs = [table, pick, *pickers.values()]
    pick.change(show, pick, card, concurrency_limit=None)
    rescan.click(refresh, None, outputs, concurrency_limit=None)
    return refresh, outputs
