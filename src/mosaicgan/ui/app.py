"""The page: a header with its limits, and one tab per job (each built by its module)."""

from __future__ import annotations

import gradio as gr

from .. import imageio
from . import anonymise, models, restore, translate
from .context import Context

TABS = ("Anonymise", "Restore", "Translate", "Models")
# Gradio's own timer shows the queue position and, as its estimate, the average time of
# earlier runs of the same button ("queue: 1/1 | 4.1/0.4s" while a video takes minutes):
# hidden, with its ETA bar, so the job's own progress (frames done, as a percentage) is
# the one estimate in the page.
CSS = """
footer {display: none !important}
#header p {margin: 0}
.progress-text, .eta-bar {display: none !important}
.mg-error p[role=alert] {border: 1px solid #dc2626; background: #fef2f2; color: #991b1b;
                         border-radius: 6px; padding: 8px 12px; margin: 0}
"""


def header(ctx: Context) -> str:
    return (f"## mosaicgan\nRuns on this computer only; nothing leaves it. Uploads up to "
            f"**{ctx.workspace.max_upload_mb} MB** (images up to "
            f"{imageio.max_pixels() / 1e6:.0f} million pixels, 8 bits per sample), kept in a "
            "private folder that is removed when the server stops. One job runs at a time; "
            "others wait in the queue.")


def build_app(ctx: Context) -> gr.Blocks:
    with gr.Blocks(title="mosaicgan", analytics_enabled=False) as app:
        gr.Markdown(header(ctx), elem_id="header")
        with gr.Tabs():
            with gr.Tab(TABS[0], id="anonymise"):
                anonymise.build(ctx)
            with gr.Tab(TABS[1], id="restore"):
                restorers = restore.build(ctx)
            with gr.Tab(TABS[2], id="translate"):
                translators = translate.build(ctx)
            with gr.Tab(TABS[3], id="models"):
                refresh, outputs = models.build(ctx, {"restore": restorers,
                                                      "translate": translators})
        # Each page load reads the runs folder again: a run trained meanwhile is offered.
        app.load(refresh, None, outputs, concurrency_limit=None)
    return app
