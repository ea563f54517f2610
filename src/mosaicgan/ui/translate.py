"""The Translate tab: a trained model found under the runs folder (or given with
--model), a direction, an image or a video, through ``api.translate_files``: the job
``mosaicgan translate`` runs, with its gate (an output showing nudity, or a face the input
did not show, is refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from .. import api
from ..imageio import read_image
from .context import Context
from .guard import EXPECTED, TRACKED, fail, guarded, refused_upload
from .media import Upload, take
from .widgets import hidden, shown


def build(ctx: Context) -> gr.Dropdown:
    """The tab; returns its model menu (the Models tab refreshes it)."""
    guard = guarded(ctx.workspace)
    state = gr.State({})
    choices = ctx.choices("translate")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None,
                                label="Model", elem_id="translate-model",
                                info=None if choices else "no translation model found: start "
                                "the server with --runs FOLDER or --model RUN")
            direction = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="Direction",
                                 elem_id="translate-direction")
            upload = gr.File(label="Image or video", elem_id="translate-upload")
            go = gr.Button("Translate", variant="primary", elem_id="translate-go")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="translate-status")
            compare = gr.ImageSlider(label="Input / output", format="png",
                                     elem_id="translate-compare", max_height=460)
            video = gr.Video(label="Result", visible=False, interactive=False,
                             elem_id="translate-video", buttons=["download"])
            download = gr.File(label="Download", interactive=False,
                               elem_id="translate-download", visible=False)

    def directions(source: str | None) -> Any:
        info = next((m for m in ctx.models() if m.source == source), None)
        ways = list(info.directions) if info else ["AtoB", "BtoA"]
        return gr.update(choices=ways, value=ways[0])

    model.change(directions, model, direction, concurrency_limit=None)

    empty = ({}, None, hidden(), hidden())

    @guard
    def load(path: str | None) -> tuple[Any, ...]:
        if path is None:
            return (*empty, gr.update(), "")
        try:
            up, image = take(ctx.workspace, path)
        except EXPECTED as exc:
            return (*empty, None, refused_upload(ctx.workspace, exc))
        return (up.as_state(), None, hidden(), hidden(), gr.update(),
                f"**{up.src.name}**: {image.shape[1]}×{image.shape[0]}"
                f"{' video' if up.video else ''}.")

    loaded = [state, compare, video, download, upload, status]
    # (upload and clear, not change: emptying the box after a bad file must not reload)
    upload.upload(load, upload, loaded, concurrency_id="job", concurrency_limit=1)
    upload.clear(load, upload, loaded, concurrency_limit=None)

    @guard
    def run(st: dict, source: str | None, way: str,
            progress: gr.Progress = TRACKED) -> tuple[Any, ...]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        if not source:
            raise fail("no translation model: start the server with --runs FOLDER or "
                       "--model RUN")
        progress(0, desc="translating")
        report = api.translate_files([up.src], up.job / "out", model=source, direction=way,
                                     log=lambda _: None)
        if report.failed:
            raise fail(ctx.workspace.short(report.failed[0][1]))
        if report.skipped:
            reason = ctx.workspace.short(report.skipped[0][1])
            return (None, hidden(), hidden(),
                    f"Not written: the safety gate refused the output ({reason}).")
        out = Path(report.written[0])
        after = api.video_frame(out) if up.video else read_image(out)
        return ((up.picture(), after),
                shown(out if up.video else None, up.video),
                shown(out), f"Translated {way} with {Path(source).name}.")

    go.click(run, [state, model, direction], [compare, video, download, status],
             concurrency_id="job", concurrency_limit=1, show_progress_on=compare)
    return model
