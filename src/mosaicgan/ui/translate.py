"""The Translate tab: a trained model found under the runs folder (or given with
--model), a direction, an image or a video, through ``api.translate_files``: the job
``mosaicgan translate`` runs, with its gate (an output showing nudity, or a face the input
did not show, is refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from .. import api
from ..options import VideoOptions
from .cancelling import cancellable, job
from .context import Context
from .guard import EXPECTED, TRACKED, Events, fail, refused_upload
from .media import Upload, by_rule, displayed, download_label, take
from .widgets import cancel_button, enabled, hidden, shown

TAB = "translate"
NO_MODEL = ("no translation model found: start the server with --runs FOLDER (a folder "
            "of CycleGAN or pix2pix runs) or --model RUN")


def build(ctx: Context) -> gr.Dropdown:
    """The tab; returns its model menu (the Models tab refreshes it)."""
    state = gr.State({})
    choices = ctx.choices("translate")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None,
                                label="Model", elem_id="translate-model",
                                info=None if choices else NO_MODEL)
            direction = gr.Radio(["AtoB", "BtoA"], value="AtoB", label="Direction",
                                 elem_id="translate-direction")
            upload = gr.File(label="Image or video", elem_id="translate-upload")
            with gr.Row():
                go = gr.Button("Translate", variant="primary", elem_id="translate-go",
                               interactive=False)
                cancel = cancel_button("translate-cancel")
        with gr.Column(scale=2):
            events = Events(ctx.workspace, "translate-error")
            status = gr.Markdown(elem_id="translate-status")
            compare = gr.ImageSlider(label="Input / output", format="png",
                                     elem_id="translate-compare", max_height=460)
            video = gr.Video(label="Result", visible=False, interactive=False,
                             elem_id="translate-video", buttons=["download"])
            download = gr.File(label="Download", interactive=False,
                               elem_id="translate-download", visible=False)

    def directions(source: str | None) -> tuple[Any, Any]:
        info = next((m for m in ctx.models() if m.source == source), None)
        ways = list(info.directions) if info else ["AtoB", "BtoA"]
        # (the note on a missing model follows the menu: the Models tab refreshes it)
        return (gr.update(choices=ways, value=ways[0]),
                gr.update(info=None if source else NO_MODEL))

    model.change(directions, model, [direction, model], concurrency_limit=None)

    empty = ({}, None, hidden(), hidden())

    def load(path: str | None) -> tuple[Any, ...]:
        if path is None:
            return (*empty, gr.update(), "")
        try:
            up, image = take(ctx.workspace, path)
        except EXPECTED as exc:
            raise refused_upload(ctx.workspace, exc, (*empty, None, "")) from None
        return (up.as_state(), None, hidden(), hidden(), gr.update(),
                f"**{up.src.name}**: {image.shape[1]}×{image.shape[0]}"
                f"{' video' if up.video else ''}.")

    loaded = [state, compare, video, download, upload, status]
    # (upload and clear, not change: emptying the box after a bad file must not reload)
    events.on(upload.upload, load, upload, loaded, concurrency_id="job", concurrency_limit=1)
    events.on(upload.clear, load, upload, loaded, concurrency_limit=None)

    def ready(st: dict, source: str | None) -> Any:
        """Translate runs once there is a file and a model to translate it with."""
        return enabled(bool(st) and bool(source))

    gr.on([state.change, model.change], ready, [state, model], go, concurrency_limit=None,
          show_progress="hidden")

    def run(st: dict, source: str | None, way: str, request: gr.Request,
            progress: gr.Progress = TRACKED) -> tuple[Any, ...]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        if not source:
            raise fail(NO_MODEL)
        progress(None, desc="translating")
        out_dir = up.out_dir()
        with job(ctx, request, TAB, out_dir) as stop:
            report = api.translate_files([up.src], out_dir, model=source, direction=way,
                                         video=VideoOptions(progress=True, cancel=stop),
                                         log=lambda _: None)
        if report.failed:
            raise fail(report.failed[0][1])
        if report.skipped:
            reason = ctx.workspace.short(report.skipped[0][1])
            return (None, hidden(), hidden(),
                    f"Not written: the safety gate refused the output ({reason}).")
        out = by_rule(Path(report.written[0]), up.src, "translate")
        after = api.video_frame(out) if up.video else displayed(out)
        return ((up.picture(), after),
                shown(out if up.video else None, up.video),
                shown(out, label=download_label(out, "translated", up.video)),
                f"Translated {way} with {Path(source).name}.")

    translated = events.on(go.click, run, [state, model, direction],
                           [compare, video, download, status], cancel=cancel,
                           concurrency_id="job", concurrency_limit=1, show_progress_on=compare)
    cancellable(ctx, cancel, [translated], status, TAB, events)
    return model
