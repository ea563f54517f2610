"""The web app's parts that need no browser: boxes, the workspace, the model catalogue, the
previews the API gained for it, the server's start-up rules and the `ui` command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mosaicgan import api
from mosaicgan.cli import main
from mosaicgan.errors import InputError, ModelError, MosaicganError
from mosaicgan.mosaic import mosaic_image
from mosaicgan.regions.masks import box_mask
from mosaicgan.ui import server
from mosaicgan.ui.boxes import box_from_corners, format_boxes, overlay, parse_boxes
from mosaicgan.ui.workspace import Workspace

from .conftest import MarkerDetector, photo

# The web app's tests run in .ci/run after the default suite (their time).
pytestmark = pytest.mark.slow

MAGENTA = MarkerDetector.MAGENTA


def magenta_clip(path: Path, n: int = 40, fps: int = 10) -> Path:
    """A clip of a drifting gradient with a magenta-framed square of black and white stripes
    moving right (H.264), and a 440 Hz AAC track as long."""
    import av

    yy, xx = np.mgrid[:96, :160].astype(np.float32)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 160, 96, "yuv420p"
        v.options = {"crf": "12", "preset": "ultrafast"}
        a = c.add_stream("aac", rate=8000)
        a.layout = "mono"
        for i in range(n):
            rgb = np.stack([xx + i, yy * 2, 255 - xx], -1).clip(0, 255).astype(np.uint8)
            rgb[20:52, 10 + 2 * i:42 + 2 * i] = MAGENTA
            rgb[24:48, 14 + 2 * i:38 + 2 * i] = 0
            rgb[24:48, 14 + 2 * i:38 + 2 * i:4] = 255  # stripes a mosaic averages away
            for p in v.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        t = np.arange(8000 * n // fps) / 8000
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for k in range(0, samples.shape[1], 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]),
                                               format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = 8000, k
            for p in a.encode(chunk):
                c.mux(p)
        for p in a.encode():
            c.mux(p)
    return path


def test_boxes_text_and_clicks():
    assert parse_boxes("10,20,30,40\n\n 1, 2, 3, 4 ") == [(10, 20, 30, 40), (1, 2, 3, 4)]
    assert format_boxes([(10, 20, 30, 40), (1, 2, 3, 4)]) == "10,20,30,40\n1,2,3,4"
    with pytest.raises(ValueError, match="box on line 2: box '1,2,3' is not X,Y,W,H"):
        parse_boxes("1,2,3,4\n1,2,3")
    assert box_from_corners((50, 10), (20, 40)) == (20, 10, 30, 30)  # any two corners
    assert box_from_corners((5, 5), (5, 9)) is None  # no area


def test_overlay_draws_only_around_the_regions():
    image = np.full((60, 80, 3), 100, np.uint8)
    mask = box_mask(60, 80, (30, 10, 10, 10))
    out = overlay(image, [(20, 20, 30, 30)], mask=mask, labels=[""])
    assert (out[mask] != 100).any(axis=-1).all() and out[0, 0].tolist() == [100, 100, 100]
    assert out[20, 35].tolist() != [100, 100, 100]  # the outline
    assert (image == 100).all()  # drawn on a copy


def test_workspace_limit_names_and_removal(tmp_path):
    ws = Workspace(max_upload_mb=1)
    try:
        assert ws.root.stat().st_mode & 0o077 == 0  # private to this user
        small = tmp_path / "a.png"
        small.write_bytes(b"x" * 100)
        taken = ws.take(small)
        assert taken.name == "a.png" and taken.read_bytes() == small.read_bytes()
        assert taken.is_relative_to(ws.root)
        big = tmp_path / "big.mp4"
        big.write_bytes(b"x" * (2 << 20))
        with pytest.raises(InputError, match=r"^big.mp4: 2 MB is more than the upload limit "
                                             r"of 1 MB$"):
            ws.take(big)
        assert ws.short(f"{taken}: corrupt") == "a.png: corrupt"
    finally:
        ws.remove()
    assert not ws.root.exists()


def test_describe_and_find_models(tmp_path, tiny_model, tiny_translation_model):
    shipped = api.describe_model("default")
    assert (shipped.kind, shipped.task, shipped.size, shipped.steps) == ("pix2pix", "restore",
                                                                         256, 10000)
    assert "model card" in shipped.card and shipped.megabytes > 10
    import shutil

    shutil.copytree(tiny_model, tmp_path / "runs" / "restorer")
    shutil.copytree(tiny_translation_model, tmp_path / "runs" / "deep" / "translator")
    (tmp_path / "runs" / "restorer" / "README.md").write_text("# my restorer\n")
    (tmp_path / "runs" / "broken").mkdir()
    (tmp_path / "runs" / "broken" / "checkpoint.json").write_text("{not json")
    (tmp_path / "runs" / "report.json").write_text(json.dumps({"rows": []}))
    found = {m.name: m for m in api.find_models(tmp_path / "runs")}
    assert set(found) == {"restorer", "deep/translator"}  # the broken one left out
    assert found["restorer"].task == "restore" and found["restorer"].card == "# my restorer\n"
    assert found["deep/translator"].task == "translate"
    assert found["deep/translator"].directions == ("AtoB",)
    with pytest.raises(ModelError, match=r"no checkpoint\.json or model\.json"):
        api.describe_model(tmp_path)


def test_restore_regions_are_what_restore_would_restore():
    image = photo("chelsea")
    mosaiced = mosaic_image(image, box_mask(300, 451, (96, 48, 128, 96)), 16)
    [(box, region)] = api.restore_regions(mosaiced)
    assert np.abs(np.array(box) - [96, 48, 128, 96]).max() <= 16
    assert region.dtype == bool and region[100, 150]
    mask = box_mask(300, 451, (10, 10, 20, 20)) | box_mask(300, 451, (100, 100, 50, 40))
    assert [b for b, _ in api.restore_regions(mosaiced, mask)] == [(100, 100, 50, 40),
                                                                   (10, 10, 20, 20)]


def test_video_frame(tmp_path):
    clip = magenta_clip(tmp_path / "clip.mp4", n=5)
    assert api.is_video(clip) and not api.is_video(tmp_path / "a.png")
    frame = api.video_frame(clip)
    assert frame.shape == (96, 160, 3)
    assert np.abs(frame[21, 12].astype(int) - MAGENTA).max() < 12  # the first frame's square
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clip.read_bytes()[:300])
    with pytest.raises(InputError, match=r"broken\.mp4"):
        api.video_frame(broken)


def test_loopback_and_the_warning_for_other_hosts(monkeypatch):
    assert server.is_loopback("127.0.0.1") and server.is_loopback("localhost")
    assert server.is_loopback("::1") and not server.is_loopback("0.0.0.0")
    assert not server.is_loopback("192.168.1.5")

    class Started(Exception):
        pass

    def fake_start(*args, **kwargs):
        raise Started

    monkeypatch.setattr(server, "start", fake_start)
    said: list[str] = []
    with pytest.raises(Started):
        server.serve("0.0.0.0", log=said.append)
    assert said == ["warning: serving on 0.0.0.0: anyone who can reach this machine on that "
                    "network can use the app (upload files, run the models)"]
    said.clear()
    with pytest.raises(Started):
        server.serve("127.0.0.1", log=said.append)
    assert said == []


def test_ui_without_gradio_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now fails
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unused")  # (start sets it; restored after)
    result = CliRunner().invoke(main, ["ui", "--port", "7999"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "error: the web app needs gradio, which is not installed: pip install 'mosaicgan[ui]'")


def test_a_bad_model_fails_at_start_and_leaves_no_workspace(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setenv("GRADIO_TEMP_DIR", "unused")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where mkdtemp makes it
    with pytest.raises(MosaicganError, match="no such model"):
        server.start(port=7999, models=[str(tmp_path / "missing.json")])
    assert not list(tmp_path.glob("mosaicgan-ui-*"))


def test_brushed_strokes_become_the_mask():
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    from mosaicgan.ui.anonymise import brushed

    layer = np.zeros((30, 40, 4), np.uint8)
    layer[5:10, 5:20, 3] = 255
    mask = brushed({"background": None, "layers": [layer], "composite": None}, (60, 80))
    assert mask.shape == (60, 80) and mask[10:20, 10:40].all() and mask.sum() == 10 * 30
    assert not brushed(None, (6, 8)).any()


def test_refusals_in_plain_words():
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    from mosaicgan.ui.restore import _image_note, refusal_words

    assert refusal_words(["face"]) == "kept mosaiced: a face was visible"
    assert refusal_words(["face", "nudity"]) == ("kept mosaiced: a face was visible and "
                                                 "nudity was visible")
    note = _image_note({"synthesized": [[0, 0, 8, 8]],
                        "refused": [{"box": [1, 2, 3, 4], "reasons": ["face"]}]})
    assert note.splitlines() == ["Restored 1 of 2 region(s).",
                                 "- Region at 1,2 (3×4): kept mosaiced: a face was visible in "
                                 "the restored result, so it was left as it was."]
    note = _image_note({"synthesized": [], "refused": [], "unrestorable": [[5, 6, 70, 80]]})
    assert note.splitlines()[1] == ("- Area at 5,6 (70×80) looks mosaiced, but no grid of "
                                    "cells was found in it to restore from, so it was left "
                                    "as it was.")


def test_the_ui_command_serves_and_stops_cleanly(tmp_path):
    """`mosaicgan ui` as a user runs it: the page is served, Ctrl-C stops it, and its
    private folder is gone afterwards."""
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    import os
    import signal
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mosaicgan", "ui", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        lines = []
        while not any(line.startswith("mosaicgan ui: http") for line in lines):
            line = proc.stderr.readline()
            assert line, f"the server ended before serving: {lines}"
            lines.append(line)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as page:
            assert page.status == 200 and b"mosaicgan" in page.read()
        assert len(list(tmp_path.glob("mosaicgan-ui-*"))) == 1
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopped; the uploaded and produced files are removed" in proc.stderr.read()
        assert not list(tmp_path.glob("mosaicgan-ui-*"))
    finally:
        if proc.poll() is None:
            proc.kill()


def test_transparent_pixels_on_a_checkerboard():
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    from mosaicgan.ui.media import on_checkerboard

    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[...] = (255, 0, 0)
    alpha = np.zeros((16, 16), np.uint8)
    alpha[:, 12:] = 255
    alpha[:, 10] = 128
    out = on_checkerboard(rgb, alpha)
    assert out[0, 0].tolist() == [255, 255, 255] and out[8, 0].tolist() == [204, 204, 204]
    assert out[0, 8].tolist() == [204, 204, 204] and out[8, 8].tolist() == [255, 255, 255]
    assert out[0, 12].tolist() == [255, 0, 0]  # opaque: as it is
    assert out[8, 10].tolist() == [255, 127, 127]  # half: half the white square under it
    assert on_checkerboard(rgb, None) is rgb


def test_outputs_are_named_by_the_rule(tmp_path):
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    from mosaicgan.ui.media import by_rule, download_label

    out = tmp_path / "cat.png"
    out.write_bytes(b"x")
    named = by_rule(out, Path("in/cat.jpg"), "restore")  # (written as PNG: its suffix kept)
    assert named == tmp_path / "cat_restored.png" and named.read_bytes() == b"x"
    assert not out.exists()
    assert by_rule(named, Path("cat.png"), "restore") == named  # named so already
    assert download_label(Path("clip_restored.mp4"), "restored", True) == (
        "Download: the restored video (MP4)")
    assert download_label(Path("cat_anonymised.jpg"), "anonymised", False) == (
        "Download: the anonymised image (JPG)")


def test_a_cancel_reaches_only_the_job_running():
    from mosaicgan.ui.running import Running

    running = Running()
    assert running.cancel("s", "anonymise") is None  # nothing running
    with running.job("s", "anonymise") as before:
        pass
    with running.job("s", "anonymise") as flag:
        assert running.cancel("s", "restore") is None
        assert running.cancel("t", "anonymise") is None
        assert not flag.is_set()
        assert running.cancel("s", "anonymise", wait=0.01) is False  # asked, still running
        assert flag.is_set()
    assert not before.is_set() and running.cancel("s", "anonymise") is None

    import threading

    started = threading.Event()

    def job() -> None:  # (a job that stops when asked, as the video jobs do)
        with running.job("s", "restore") as stop:
            started.set()
            stop.wait(10)

    worker = threading.Thread(target=job)
    worker.start()
    started.wait(10)
    assert running.cancel("s", "restore", wait=10) is True  # asked, and it has ended
    worker.join()


def test_a_video_job_stops_between_batches_when_cancelled(tmp_path):
    import threading

    from mosaicgan.errors import Cancelled
    from mosaicgan.options import VideoOptions

    clip = magenta_clip(tmp_path / "clip.mp4", n=24)
    stop = threading.Event()
    seen: list[int] = []

    def region(frame: np.ndarray) -> np.ndarray:
        seen.append(1)
        if len(seen) == 10:
            stop.set()  # (as the Cancel button does, while the second batch runs)
        return box_mask(96, 160, (0, 0, 16, 16))

    with pytest.raises(Cancelled):
        api.mosaic_video(clip, tmp_path / "out.mp4", region_fn=region, detect_every=1,
                         options=VideoOptions(batch=8, progress=False, cancel=stop))
    assert len(seen) == 16  # the batch it was on finished, no more
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]  # no partial file


def test_a_video_restore_in_plain_words():
    pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
    from mosaicgan.ui.restore import _video_note
    from mosaicgan.video.processors import RestoreVideoReport

    done = RestoreVideoReport(Path("a.mp4"), Path("b.mp4"), frames_written=40)
    assert _video_note(done) == ("Nothing restored: no mosaic was found in the video's 40 "
                                 "frame(s), so the result is the video as it was "
                                 "(re-encoded).")
    done.synthesized = {1: {"frames": [0, 39], "box": [8, 8, 16, 16], "count": 40}}
    done.withheld = {2: {"frames": [5, 20], "box": [40, 8, 16, 16], "count": 16}}
    assert _video_note(done).splitlines() == [
        "Restored 1 of 2 tracked region(s) in 40 frame(s).",
        "- Region 2 at 40,8 (16×16), frames 5–20: kept mosaiced: a face or nudity was "
        "visible in the restored result, so it was left as it was in all its frames."]


def test_a_failed_event_says_why_in_its_error_box():
    gr = pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e "
                                              "'.[dev]'")
    from mosaicgan.ui.guard import Events, fail

    ws = Workspace(max_upload_mb=1)
    try:
        events = Events(ws, "x-error")

        def broken(_: str) -> tuple[str, str]:
            raise InputError(ws.root / "jobs" / "a1" / "in" / "cat.png", "corrupt <image>")

        *others, box = events.guarded(broken, 2)("x")
        assert others == [gr.update(), gr.update()]  # left as they were
        assert box["visible"] and box["value"] == "<p role='alert'>cat.png: corrupt " \
                                                  "&lt;image&gt;</p>"
        assert events.guarded(lambda: ("a", "b"), 2)()[:2] == ("a", "b")
        assert events.guarded(lambda: "a", 1)()[1]["visible"] is False  # hidden again

        def steps():
            yield "first"
            raise fail("stopped here", ["emptied"])

        got = list(events.guarded(steps, 1)())
        assert got[0] == ("first", gr.update(value="", visible=False))
        assert got[1][0] == "emptied" and "stopped here" in got[1][1]["value"]
    finally:
        ws.remove()
