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
from ..imageio import read_image, write_image
from ..options import STYLES, RegionSpec, VideoOptions
from ..regions.base import boxes_mask
from ..regions.detectors import FACE_MARGIN, NUDITY_MARGIN
from .boxes import clicked, format_boxes, overlay, parse_boxes
from .context import Context
from .guard import EXPECTED, PROGRESS, TRACKED, fail, guarded, refused_upload
from .media import Upload, take
from .widgets import hidden, shown

BOXES, BRUSH, FACES, CAM, NUDITY = ("Boxes I draw", "A mask I brush", "Faces",
                                    "A class the classifier sees (CAM)", "Nudity")
MODES = (BOXES, BRUSH, FACES, CAM, NUDITY)
WHERE = {FACES: "face", CAM: "cam", NUDITY: "nudity"}
# The margin each kind of found region gets by default (the detectors' own defaults; a CAM
# margin is a fraction of the image's longer side, none by default)
MARGINS = {FACES: FACE_MARGIN, NUDITY: NUDITY_MARGIN, CAM: 0.0}
STYLE_NOTE = ("**mosaic** keeps each block's mean colour: weak redaction, it can be partly "
              "undone (this tool does it). **blur** removes more. **solid** (a black fill) is "
              "the only one that removes what was there. Videos take mosaic only.")


def build(ctx: Context) -> None:
    """The tab's components and events (inside a ``gr.Tab``)."""
    guard = guarded(ctx.workspace)
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
                                    value="auto", elem_id="anon-target")
                min_score = gr.Slider(0, 1, value=0.0, step=0.05, elem_id="anon-min-score",
                                      label="Act only where the class probability reaches "
                                            "(0: always)")
            margin = gr.Slider(0, 1, value=MARGINS[FACES], step=0.05, visible=False,
                               label="Margin (a fraction of each region's size; for CAM of "
                                     "the image's longer side)", elem_id="anon-margin")
            style = gr.Radio(list(STYLES), value=STYLES[0], label="Style",
                             elem_id="anon-style")
            block = gr.Slider(0, 64, value=0, step=1, elem_id="anon-block",
                              label="Block size in px (0: about 16 blocks across a region)")
            gr.Markdown(STYLE_NOTE)
            with gr.Row():
                show = gr.Button("Show regions", elem_id="anon-show")
                apply = gr.Button("Apply", variant="primary", elem_id="anon-apply")
        with gr.Column(scale=2):
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

    @guard
    def load(path: str | None) -> tuple[Any, ...]:
        if path is None:
            return (*empty, gr.update(), "")
        try:
            up, image = take(ctx.workspace, path)
        except EXPECTED as exc:
            return (*empty, None, refused_upload(ctx.workspace, exc))
        what = "video: its first frame is shown" if up.video else "image"
        note = f"**{up.src.name}**: {image.shape[1]}×{image.shape[0]} {what}."
        return (up.as_state(), image, {"background": image, "layers": [], "composite": image},
                "", None, hidden(), hidden(), gr.update(), note)

    # (a new file starts without boxes: those drawn were for the one before)
    loaded = [state, picture, brush, boxes, compare, video, download, upload, status]
    # (upload and clear, not change: emptying the box after a bad file must not reload)
    upload.upload(load, upload, loaded, concurrency_id="job", concurrency_limit=1,
                  show_progress_on=picture)
    upload.clear(load, upload, loaded, concurrency_limit=None)

    @guard
    def click(st: dict, text: str, evt: gr.SelectData) -> tuple[Any, ...]:
        if not st:
            raise fail("upload an image or a video first")
        x, y = (int(v) for v in evt.index)
        st, text = clicked(st, text, (x, y))
        return st, text, redraw(st, text)

    picture.select(click, [state, boxes], [state, boxes, picture], concurrency_limit=None)

    @guard
    def edited(st: dict, text: str) -> np.ndarray | None:
        return redraw(st, text)

    boxes.input(edited, [state, boxes], picture, concurrency_limit=None)

    @guard
    def remove_last(st: dict, text: str) -> tuple[Any, ...]:
        text = format_boxes(parse_boxes(text)[:-1])
        st = {**st, "corner": None} if st else st
        return st, text, redraw(st, text)

    undo.click(remove_last, [state, boxes], [state, boxes, picture], concurrency_limit=None)

    @guard
    def clear_boxes(st: dict) -> tuple[Any, ...]:
        st = {**st, "corner": None} if st else st
        return st, "", redraw(st, "")

    clear.click(clear_boxes, state, [state, boxes, picture], concurrency_limit=None)

    def switch(choice: str) -> tuple[Any, ...]:
        drawn = choice == BOXES
        return (gr.update(visible=drawn), gr.update(visible=drawn),
                gr.update(visible=choice == CAM),
                gr.update(visible=choice in MARGINS, value=MARGINS.get(choice, 0.0)),
                gr.update(visible=choice == BRUSH), gr.update(visible=choice != BRUSH))

    mode.change(switch, mode, [boxes, box_buttons, cam_group, margin, brush, picture],
                concurrency_limit=None)
    # (a block size means something for a mosaic only)
    style.change(lambda how: gr.update(visible=how == "mosaic"), style, block,
                 concurrency_limit=None)

    def spec(choice: str, target_name: str, score: float, grow: float) -> RegionSpec:
        if choice == CAM:
            return RegionSpec("cam", target=(target_name or "auto").strip(),
                              min_score=score or None, margin=grow)
        return RegionSpec(WHERE[choice], margin=grow)

    def drawn_mask(up: Upload, choice: str, text: str, painted: dict | None) -> np.ndarray:
        height, width = up.picture().shape[:2]
        if choice == BOXES:
            found = parse_boxes(text)
            if not found:
                raise fail("draw a box first: click two opposite corners on the picture")
            return boxes_mask(height, width, found)
        mask = brushed(painted, (height, width))
        if not mask.any():
            raise fail("brush over the part to hide first")
        return mask

    @guard
    def preview(st: dict, choice: str, text: str, painted: dict | None, target_name: str,
                score: float, grow: float, progress: gr.Progress = PROGRESS
                ) -> tuple[np.ndarray, str]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        image = up.picture()
        if choice in WHERE:
            progress(0.1, desc="finding regions")
            regions = api.find_regions(image, spec(choice, target_name, score, grow))
        else:
            regions = api.given_regions(image.shape, mask=drawn_mask(up, choice, text, painted))
        words = ", ".join(f"{label.lower()} {score:.2f}" if choice in WHERE else label
                          for label, score in zip(regions.labels, regions.scores, strict=True))
        note = (f"{len(regions)} region(s) to hide ({words})" if len(regions)
                else "no region found: applying would leave the file unchanged")
        if up.video and choice in WHERE:
            note += "; in a video they are found again on every frame and tracked"
        return overlay(image, regions.boxes, mask=regions.mask), note

    region_inputs = [state, mode, boxes, brush, target, min_score, margin]
    show.click(preview, region_inputs, [picture, status], concurrency_id="job",
               concurrency_limit=1, show_progress_on=picture)

    @guard
    def run(st: dict, choice: str, text: str, painted: dict | None, target_name: str,
            score: float, grow: float, how: str, size: float,
            progress: gr.Progress = TRACKED) -> tuple[Any, ...]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload an image or a video first")
        out_dir, regions_dir = up.job / "out", up.job / "regions"
        source: dict[str, Any] = {}
        if choice in WHERE:
            source["where"] = spec(choice, target_name, score, grow)
        else:
            mask_file = up.job / "mask.png"
            write_image(mask_file, drawn_mask(up, choice, text, painted).astype(np.uint8) * 255)
            source["mask"] = mask_file
        progress(0, desc="video: frames" if up.video else "hiding the regions")
        lines: list[str] = []
        report = api.mosaic_files([up.src], out_dir, style=how, block=int(size) or None,
                                  regions_dir=regions_dir, video=VideoOptions(progress=True),
                                  log=lines.append, **source)
        if report.failed:
            raise fail(ctx.workspace.short(report.failed[0][1]))
        out = Path(report.written[0])
        hid = _regions_shown(up, regions_dir / Path(up.src.name).with_suffix(".json"))
        after = api.video_frame(out) if up.video else read_image(out)
        notes = [ctx.workspace.short(line) for line in lines if "no region found" in line]
        note = f"Done: {hid[1]} region(s) hidden with {how}. " + " ".join(notes)
        return (hid[0], (up.picture(), after),
                shown(out if up.video else None, up.video),
                shown(out), note)

    apply.click(run, [*region_inputs, style, block],
                [picture, compare, video, download, status], concurrency_id="job",
                concurrency_limit=1, show_progress_on=compare)


def _regions_shown(up: Upload, regions_json: Path) -> tuple[np.ndarray, int]:
    """The picture with the regions the job hid (from the regions it wrote), and how many."""
    found = json.loads(regions_json.read_text()) if regions_json.is_file() else {}
    boxes = [tuple(r["box"]) for r in found.get("regions", [])]
    return overlay(up.picture(), boxes), len(boxes)


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
