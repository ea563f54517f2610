"""The Restore tab: the mosaics found in an image or a video, shown and editable (untick
one, draw one more), restored with the shipped model or a chosen run by
``api.restore_files``, the job ``mosaicgan restore`` runs: the same safety gate, whose
refusals the page lists in plain words."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from .. import api
from ..imageio import write_image
from ..naming import derived_name
from ..options import DEFAULT_SHARPNESS, VideoOptions
from ..regions.base import boxes_mask
from .boxes import clicked, overlay, parse_boxes
from .cancelling import cancellable, job
from .context import SHIPPED, Context
from .guard import EXPECTED, PROGRESS, TRACKED, Events, fail, refused_upload
from .media import Upload, by_rule, displayed, download_label, take
from .widgets import cancel_button, enabled, hidden, shown

TAB = "restore"

# The gate's reasons, as the page says them
SEEN = {"face": "a face was visible", "nudity": "nudity was visible"}


def refusal_words(reasons: list[str]) -> str:
    """``["face"]`` -> ``"kept mosaiced: a face was visible"`` (in the restored result)."""
    seen = " and ".join(SEEN.get(r, f"{r} was detected") for r in reasons) or "refused"
    return f"kept mosaiced: {seen}"


def label(n: int, box: tuple[int, ...]) -> str:
    x, y, w, h = box
    return f"{n}: at {x},{y}, {w}×{h}"


def build(ctx: Context) -> gr.Dropdown:
    """The tab; returns its model menu (the Models tab refreshes it)."""
    state = gr.State({})
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            upload = gr.File(label="Mosaiced image or video", elem_id="restore-upload")
            model = gr.Dropdown(ctx.choices("restore"), value=SHIPPED, label="Model",
                                elem_id="restore-model")
            sharpness = gr.Slider(0, 1, value=DEFAULT_SHARPNESS, step=0.1,
                                  label="Sharpness: 0 faithful (smooth, closest to the "
                                        "original pixel by pixel), 1 sharp (plausible "
                                        "detail, invented)", elem_id="restore-sharpness",
                                  info="For the shipped model, and models fine-tuned from "
                                       "another; others restore as trained.")
            found = gr.CheckboxGroup([], label="Mosaics found (untick one to leave it)",
                                     elem_id="restore-found")
            added = gr.Textbox(label="More regions (x,y,w,h per line): click two opposite "
                                     "corners on the picture", lines=2,
                               elem_id="restore-added")
            clear = gr.Button("Clear added regions", size="sm")
            gr.Markdown("Only the regions restore. Wherever a face or nudity would show in "
                        "a restored region, it stays mosaiced: no option turns this off.")
            with gr.Row():
                go = gr.Button("Restore", variant="primary", elem_id="restore-go",
                               interactive=False)
                cancel = cancel_button("restore-cancel")
        with gr.Column(scale=2):
            events = Events(ctx.workspace, "restore-error")
            status = gr.Markdown(elem_id="restore-status")
            with gr.Row(equal_height=True):
                picture = gr.Image(label="Mosaics found (click to add a region)",
                                   format="png", interactive=False, elem_id="restore-picture",
                                   height=420, buttons=["fullscreen"])
                compare = gr.ImageSlider(label="Before / after", format="png",
                                         elem_id="restore-compare", max_height=420)
            video = gr.Video(label="Result", visible=False, interactive=False,
                             elem_id="restore-video", buttons=["download"], height=360)
            download = gr.File(label="Download", interactive=False,
                               elem_id="restore-download", visible=False)

    def regions(st: dict) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
        if not st.get("found"):
            return []
        with np.load(st["found"]) as saved:
            masks = [saved[f"m{i}"] for i in range(len(saved.files))]
        return list(zip(st["boxes"], masks, strict=True))

    def redraw(st: dict, ticked: list[str], text: str) -> np.ndarray | None:
        up = Upload.from_state(st)
        if up is None:
            return None
        kept = [i for i, box in enumerate(st["boxes"]) if label(i + 1, box) in ticked]
        masks = [m for i, (_, m) in enumerate(regions(st)) if i in kept]
        mask = np.logical_or.reduce(masks) if masks else None
        left = [i for i in range(len(st["boxes"])) if i not in kept]
        more = parse_boxes(text)
        # Numbered as the list of mosaics found; regions drawn get +1, +2, ...
        names = [str(i + 1) for i in kept] + [f"+{n}" for n in range(1, len(more) + 1)]
        corner = st.get("corner")
        return overlay(up.picture(), [tuple(st["boxes"][i]) for i in kept] + more,
                       leave=[tuple(st["boxes"][i]) for i in left], mask=mask,
                       corner=tuple(corner) if corner else None,
                       labels=names + [str(i + 1) for i in left])

    empty = ({}, None, gr.update(choices=[], value=[]), "", None, hidden(), hidden())

    def load(path: str | None, progress: gr.Progress = PROGRESS) -> tuple[Any, ...]:
        if path is None:
            return (*empty, gr.update(), "")
        try:
            up, _ = take(ctx.workspace, path)
        except EXPECTED as exc:
            raise refused_upload(ctx.workspace, exc, (*empty, None, "")) from None
        progress(None, desc="finding mosaics")
        found = api.restore_regions(up.pixels())  # (in what the job sees)
        saved = up.job / "found.npz"
        np.savez_compressed(saved, **{f"m{i}": m for i, (_, m) in enumerate(found)})
        st = {**up.as_state(), "found": str(saved), "boxes": [list(b) for b, _ in found]}
        names = [label(i + 1, b) for i, (b, _) in enumerate(found)]
        frame = " (its first frame)" if up.video else ""
        if found:
            note = f"**{up.src.name}**{frame}: {len(found)} mosaic(s) found."
        elif up.video:
            note = (f"**{up.src.name}**{frame}: no mosaic found; Restore looks for them in "
                    "every frame, or draw the regions to restore.")
        else:
            note = f"**{up.src.name}**: no mosaic found; draw the regions to restore."
        return (st, redraw(st, names, ""), gr.update(choices=names, value=names), "", None,
                hidden(), hidden(), gr.update(), note)

    loaded = [state, picture, found, added, compare, video, download, upload, status]
    # (upload and clear, not change: emptying the box after a bad file must not reload)
    events.on(upload.upload, load, upload, loaded, concurrency_id="job",
              concurrency_limit=1, show_progress_on=picture)
    events.on(upload.clear, load, upload, loaded, concurrency_limit=None)

    def click(st: dict, ticked: list[str], text: str, evt: gr.SelectData) -> tuple[Any, ...]:
        if not st:
            raise fail("upload a mosaiced image or video first")
        x, y = (int(v) for v in evt.index)
        st, text = clicked(st, text, (x, y))
        return st, text, redraw(st, ticked, text)

    events.on(picture.select, click, [state, found, added], [state, added, picture],
              concurrency_limit=None)
    for edit in (found.input, added.input):
        events.on(edit, redraw, [state, found, added], picture, concurrency_limit=None)

    def clear_added(st: dict, ticked: list[str]) -> tuple[Any, ...]:
        st = {**st, "corner": None} if st else st
        return st, "", redraw(st, ticked, "")

    events.on(clear.click, clear_added, [state, found], [state, added, picture],
              concurrency_limit=None)

    def ready(st: dict, ticked: list[str], text: str) -> Any:
        """Restore runs once there is a file and a region to restore: a mosaic found and
        ticked, or one drawn; or a video none was found in the first frame of (the job
        looks in every frame)."""
        searched = bool(st) and st.get("video") and not st.get("boxes")
        return enabled(bool(st) and (bool(ticked) or bool((text or "").strip())
                                     or bool(searched)))

    gr.on([state.change, found.change, added.change], ready, [state, found, added], go,
          concurrency_limit=None, show_progress="hidden")

    def run(st: dict, source: str, sharp: float, ticked: list[str], text: str,
            request: gr.Request, progress: gr.Progress = TRACKED) -> tuple[Any, ...]:
        up = Upload.from_state(st)
        if up is None:
            raise fail("upload a mosaiced image or video first")
        every = [label(i + 1, b) for i, b in enumerate(st["boxes"])]
        more = parse_boxes(text)
        mask_file = None
        if set(ticked) != set(every) or more:  # edited: restore exactly what is shown
            height, width = up.picture().shape[:2]
            mask = boxes_mask(height, width, more)
            for i, (_, m) in enumerate(regions(st)):
                if every[i] in ticked:
                    mask |= m
            if not mask.any():
                raise fail("nothing to restore: tick a mosaic found or draw a region")
            mask_file = up.job / derived_name(up.src.name, "mask")
            write_image(mask_file, mask.astype(np.uint8) * 255)
        elif not every and not up.video:
            raise fail("no mosaic was found: draw the regions to restore on the picture")
        progress(None, desc="restoring")
        dial = api.has_dial(source or SHIPPED)
        out_dir = up.out_dir()
        with job(ctx, request, TAB, out_dir) as stop:
            report = api.restore_files([up.src], out_dir, model=source or SHIPPED,
                                       mask=mask_file, sharpness=sharp if dial else None,
                                       video=VideoOptions(progress=True, cancel=stop),
                                       log=lambda _: None)
        if report.failed:
            raise fail(report.failed[0][1])
        out = by_rule(Path(report.written[0]), up.src, "restore")
        done = report.details.get(str(up.src))
        if up.video:
            after = api.video_frame(out)
            note = _video_note(done)
        else:
            after = displayed(out)
            note = _image_note(done or {})
        note += (f"\n\nSharpness {sharp:g} (0 faithful, 1 sharp)." if dial else
                 "\n\nThis model has no sharpness dial: restored as trained.")
        return (redraw(st, ticked, text), (up.picture(), after),
                shown(out if up.video else None, up.video),
                shown(out, label=download_label(out, "restored", up.video)), note)

    restored = events.on(go.click, run, [state, model, sharpness, found, added],
                         [picture, compare, video, download, status], cancel=cancel,
                         concurrency_id="job", concurrency_limit=1, show_progress_on=compare)
    cancellable(ctx, cancel, [restored], status, TAB, events)
    return model


def _image_note(meta: dict) -> str:
    """What the restore did, in plain words, from the metadata it recorded."""
    restored, refused = meta.get("synthesized") or [], meta.get("refused") or []
    lines = [f"Restored {len(restored)} of {len(restored) + len(refused)} region(s)."]
    for r in refused:
        x, y, w, h = r["box"]
        lines.append(f"- Region at {x},{y} ({w}×{h}): {refusal_words(r.get('reasons', []))} "
                     "in the restored result, so it was left as it was.")
    for x, y, w, h in meta.get("unrestorable") or []:
        lines.append(f"- Area at {x},{y} ({w}×{h}) looks mosaiced, but no grid of cells was "
                     "found in it to restore from, so it was left as it was.")
    return "\n".join(lines)


def _video_note(done: Any) -> str:
    """What a video restore did (its RestoreVideoReport), in plain words: the tracked
    regions restored, those the gate kept mosaiced, or that nothing was found."""
    restored = dict(getattr(done, "synthesized", None) or {})
    kept = dict(getattr(done, "withheld", None) or {})
    frames = getattr(done, "frames_written", 0)
    if not restored and not kept:
        return (f"Nothing restored: no mosaic was found in the video's {frames} frame(s), so "
                "the result is the video as it was (re-encoded).")
    lines = [f"Restored {len(restored)} of {len(restored) + len(kept)} tracked region(s) "
             f"in {frames} frame(s)."]
    for track, seen in sorted(kept.items()):
        x, y, w, h = seen["box"]
        first, last = seen["frames"]
        lines.append(f"- Region {track} at {x},{y} ({w}×{h}), frames {first}–{last}: kept "
                     "mosaiced: a face or nudity was visible in the restored result, so it "
                     "was left as it was in all its frames.")
    return "\n".join(lines)
