"""The Anonymise tab: an image or a video; boxes drawn on it, a brushed mask, or regions
found (faces, a class's activation map, nudity); mosaic, blur or a solid fill. Applying
runs ``api.mosaic_files``, the job ``mosaicgan mosaic`` runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .. import api
from ..imageio import write_image
from ..naming import derived_name
from ..options import REGION_SHAPES, STYLES, RegionSpec, VideoOptions
from ..regions.base import boxes_mask
from ..regions.detectors import FACE_MARGIN, NUDITY_MARGIN
from .boxes import clicked, format_boxes, overlay, parse_boxes
from .cancelling import cancellable, job
from .context import Context
from .guard import EXPECTED, PROGRESS, TRACKED, Events, fail, refused_upload
from .media import Upload, by_rule, displayed, download_label, take
from .widgets import cancel_button, enabled, hidden, shown

TAB = "anonymise"
BOXES, BRUSH, FACES, CAM, NUDITY = ("Boxes I draw", "A mask I brush", "Faces",
                                    "A class the classifier sees (CAM)", "Nudity")
MODES = (BOXES, BRUSH, FACES, CAM, NUDITY)
WHERE = {FACES: "face", CAM: "cam", NUDITY: "nudity"}
# The margin each kind of found region gets by default: the detectors' own constants, which
# the command line applies when --margin is not given (a CAM margin is a fraction of the
# image's longer side, none by default, as there)
MARGINS = {FACES: FACE_MARGIN, NUDITY: NUDITY_MARGIN, CAM: 0.0}
STYLE_NOTE = ("**mosaic** keeps each block's mean colour: weak redaction, it can be partly "
              "undone (this tool does it). **blur** removes more. **solid** (a black fill) is "
              "the only one that removes what was there; videos take all three.")


def build(ctx: Context) -> None:
    """The tab's components and events (inside a ``gr.Tab``)."""
    state = gr.State({})
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            upload = gr.File(label="Image or video", elem_id="anon-upload")
            mode = gr.Radio(list(MODES), value=BOXES, label="Where", elem_id="anon-mode")
            boxes = gr.Textbox(label="Boxes (x,y,w,h per line): click two opposite corners "
                                     "on the picture to add one", lines=3,
                               elem_id="anon-boxes")
            with gr.Row() as box_buttons:
                undo = gr.Button("Remove last box", size="sm")
                clear = gr.Button("Clear boxes", size="sm")
            with gr.Group(visible=False) as cam_group:
                target = gr.Textbox(label="Class (a name or part of one, or auto)",
                                    value=RegionSpec.target, elem_id="anon-target")
                min_score = gr.Slider(0, 1, value=0.0, step=0.05, elem_id="anon-min-score",
                                      label="Act only where the class probability reaches "
                                            "(0: always)")
            margin = gr.Slider(0, 1, value=MARGINS[FACES], step=0.05, visible=False,
                               label="Margin (a fraction of each region's size; for CAM of "
                                     "the image's longer side)", elem_id="anon-margin")
            shape = gr.Radio(list(REGION_SHAPES), value=RegionSpec.shape, visible=False,
                             label="Shape (ellipse: the one around each detection, holding "
                                   "all of it)", elem_id="anon-shape")
            style = gr.Radio(list(STYLES), value=STYLES[0], label="Style",
                             elem_id="anon-style")
            block = gr.Slider(0, 64, value=0, step=1, elem_id="anon-block",
                              label="Block size in px (0: about 16 blocks across a region)")
            gr.Markdown(STYLE_NOTE)
            with gr.Row():
                show = gr.Button("Show regions", elem_id="anon-show", interactive=False)
                apply = gr.Button("Apply", variant="primary", elem_id="anon-apply",
                                  interactive=False)
                cancel = cancel_button("anon-cancel")
        with gr.Column(scale=2):
            events = Events(ctx.workspace, "anon-error")
            status = gr.Markdown(elem_id="anon-status")
            with gr.Row(equal_height=True):
                picture = gr.Image(label="Regions (click to draw boxes)", interactive=False,
                                   format="png", elem_id="anon-picture", height=420,
                                   buttons=["fullscreen"])
                brush = gr.ImageEditor(label="Brush the mask", visible=False, type="numpy",
                                       sources=[], transforms=[], layers=False,
                                       brush=gr.Brush(colors=["#ff2020"], color_mode="fixed"),
                                       elem_id="anon-brush", height=420)
                compare = gr.ImageSlider(label="Before / after", format="png",
                                         elem_id="anon-compare", max_height=420)
            video = gr.Video(label="Result", visible=False, interactive=False,
                             elem_id="anon-video", buttons=["download"], height=360)
            download = gr.File(label="Download", interactive=False, elem_id="anon-download",
                               visible=False)

    def redraw(st: dict, text: str) -> np.ndarray | None:
        up = Upload.from_state(st)
        if up is None:
            return None
        corner = st.get("corner")
        return overlay(up.picture(), parse_boxes(text),
                       corner=tuple(corner) if corner else None)

    empty = ({}, None, None, "", None, hidden(), hidden())

    def load(path: str | None) -> tuple[Any, ...]:
        if path is None:
            return (*empty, gr.update(), "")
        try:
            up, image = take(ctx.workspace, path)
        except EXPECTED as exc:
            raise refused_upload(ctx.workspace, exc, (*empty, None, "")) from None
        what = "video: its first frame is shown" if up.video else "image"
        note = f"**{up.src.name}**: {image.shape[1]}×{image.shape[0]} {what}."
        return (up.as_state(), image, {"background": image, "layers": [], "composite": image},
                "", None, hidden(), hidden(), gr.update(), note)

    # (a new file starts without boxes: those drawn were for the one before)
    loaded = [state, picture, brush, boxes, compare, video, download, upload, status]
    # (upload and clear, not change: emptying the box after a bad file must not reload)
    events.on(upload.upload, load, upload, loaded, concurrency_id="job",
              concurrency_limit=1, show_progress_on=picture)
    events.on(upload.clear, load, upload, loaded, concurrency_limit=None)

    def click(st: dict, text: str, evt: gr.SelectData) -> tuple[Any, ...]:
        if not st:
            raise fail("upload an image or a video first")
        x, y = (int(v) for v in evt.index)
        st, text = clicked(st, text, (x, y))
        return st, text, redraw(st, text)

    events.on(picture.select, click, [state, boxes], [state, boxes, picture],
              concurrency_limit=None)
    events.on(boxes.input, lambda st, text: redraw(st, text), [state, boxes], picture,
              concurrency_limit=None)

    def remove_last(st: dict, text: str) -> tuple[Any, ...]:
        text = format_boxes(parse_boxes(text)[:-1])
        st = {**st, "corner": None} if st else st
        return st, text, redraw(st, text)

    events.on(undo.click, remove_last, [state, boxes], [state, boxes, picture],
              concurrency_limit=None)

    def clear_boxes(st: dict) -> tuple[Any, ...]:
        st = {**st, "corner": None} if st else st
        return st, "", redraw(st, "")

    events.on(clear.click, clear_boxes, state, [state, boxes, picture], concurrency_limit=None)

    def switch(choice: str) -> tuple[Any, ...]:
        drawn = choice == BOXES
        return (gr.update(visible=drawn), gr.update(visible=drawn),
                gr.update(visible=choice == CAM),
                gr.update(visible=choice in MARGINS, value=MARGINS.get(choice, 0.0)),
                gr.update(visible=choice in (FACES, NUDITY)),
                gr.update(visible=choice == BRUSH), gr.update(visible=choice != BRUSH))

    mode.change(switch, mode, [boxes, box_buttons, cam_group, margin, shape, brush, picture],
                concurrency_limit=None)
    # (a block size means something for a mosaic only)
    style.change(lambda how: gr.update(visible=how == "mosaic"), style, block,
                 concurrency_limit=None)

    def ready(st: dict, choice: str, text: str) -> tuple[Any, ...]:
        """Show and Apply run once there is a file and, for drawn boxes, a box (a brushed
        mask is checked when they run: the editor does not say when it is painted)."""
        can = bool(st) and (choice != BOXES or bool((text or "").strip()))
        return enabled(can), enabled(can)

    gr.on([state.change, mode.change, boxes.change], ready, [state, mode, boxes],
          [show, apply], concurrency_limit=None, show_progress="hidden")

    def spec(choice: str, target_name: str, score: float, grow: float, form: str
             ) -> RegionSpec:
        # The default margin as None: the job then applies the detector's own, as the
        # command line does without --margin.
        margin = None if grow == MARGINS[choice] else grow
        if choice == CAM:
            return RegionSpec("cam", target=(target_name or "auto").strip(),
                              min_score=score or None, margin=margin)
        return RegionSpec(WHERE[choice], margin=margin, shape=form)

    def drawn_mask(up: Upload, choice: str, text: str, painted: dict | None) -> np.ndarray:
        height, width = up.pixels().shape[:2]
        if choice == BOXES:
            found = parse_boxes(text)
            if not found:
                raise fail("draw a box first: click two opposite corners on the picture")
            return boxes_mask(height, width, found)
        mask = brushed(painted, (height, width))
        if not mask.any():
            raise fail("brush over the part to hide first")
        return mask

    def preview(st: dict, choice: str, text: str, painted: dict | None, target_name: str,
                score: float, grow: float, form: str, progress: gr.Progress = PROGRESS
                ) -> tuple[np.ndarray, str]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        pixels = up.pixels()  # (regions are found in what the job sees)
        if choice in WHERE:
            progress(None, desc="finding regions")
            regions = api.find_regions(pixels, spec(choice, target_name, score, grow, form))
        else:
            regions = api.given_regions(pixels.shape,
                                        mask=drawn_mask(up, choice, text, painted))
        words = ", ".join(f"{label.lower()} {score:.2f}" if choice in WHERE else label
                          for label, score in zip(regions.labels, regions.scores, strict=True))
        note = (f"{len(regions)} region(s) to hide ({words})" if len(regions)
                else "no region found: applying would leave the file unchanged")
        if up.video and choice in WHERE:
            note += "; in a video they are found again on every frame and tracked"
        return overlay(up.picture(), regions.boxes, mask=regions.mask), note

    region_inputs = [state, mode, boxes, brush, target, min_score, margin, shape]
    # (no Cancel: finding regions in one picture is one step, which cannot be stopped)
    events.on(show.click, preview, region_inputs, [picture, status], concurrency_id="job",
              concurrency_limit=1, show_progress_on=picture)

    def run(st: dict, choice: str, text: str, painted: dict | None, target_name: str,
            score: float, grow: float, form: str, how: str, size: float, request: gr.Request,
            progress: gr.Progress = TRACKED) -> tuple[Any, ...]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        out_dir = up.out_dir()
        regions_dir = out_dir / "regions"
        source: dict[str, Any] = {}
        if choice in WHERE:
            source["where"] = spec(choice, target_name, score, grow, form)
        else:
            mask_file = up.job / derived_name(up.src.name, "mask")
            write_image(mask_file, drawn_mask(up, choice, text, painted).astype(np.uint8) * 255)
            source["mask"] = mask_file
        progress(None, desc="video: frames" if up.video else "hiding the regions")
        with job(ctx, request, TAB, out_dir) as stop:
            report = api.mosaic_files([up.src], out_dir, style=how, block=int(size) or None,
                                      regions_dir=regions_dir,
                                      video=VideoOptions(progress=True, cancel=stop),
                                      log=lambda _: None, **source)
        if report.failed:
            raise fail(report.failed[0][1])
        out = by_rule(Path(report.written[0]), up.src, "mosaic")
        boxes_hidden = _regions_hidden(regions_dir)
        after = api.video_frame(out) if up.video else displayed(out)
        note = (f"Done: {len(boxes_hidden)} region(s) hidden with {how}." if boxes_hidden else
                "Nothing hidden: no region was found, so the result is the file unchanged.")
        return (overlay(up.picture(), boxes_hidden), (up.picture(), after),
                shown(out if up.video else None, up.video),
                shown(out, label=download_label(out, "anonymised", up.video)), note)

    applied = events.on(apply.click, run, [*region_inputs, style, block],
                        [picture, compare, video, download, status], cancel=cancel,
                        concurrency_id="job", concurrency_limit=1, show_progress_on=compare)
    cancellable(ctx, cancel, [applied], status, TAB, events)


def _regions_hidden(regions_dir: Path) -> list[tuple[int, ...]]:
    """The boxes of the regions the job hid (from the region list it wrote: one input,
    so one list, whatever the naming rule calls it)."""
    found = next(iter(sorted(regions_dir.glob("*.json"))), None)
    listed = json.loads(found.read_text()) if found is not None else {}
    return [tuple(r["box"]) for r in listed.get("regions", [])]


def brushed(painted: dict | None, shape: tuple[int, int]) -> np.ndarray:
    """The brushed strokes of the image editor's value as an ``(H, W)`` bool mask of the
    image's size (the editor may hold its canvas at another size)."""
    import cv2

    mask = np.zeros(shape, bool)
    if not painted:
        return mask
    layers = [layer for layer in painted.get("layers") or [] if layer is not None]
    for layer in layers:
        alpha = layer[..., 3] > 0 if layer.ndim == 3 and layer.shape[2] == 4 else \
            layer.max(axis=-1) > 0 if layer.ndim == 3 else layer > 0
        if alpha.shape != shape:
            alpha = cv2.resize(alpha.astype(np.uint8), (shape[1], shape[0]),
                               interpolation=cv2.INTER_NEAREST) > 0
        mask |= alpha
    return mask
