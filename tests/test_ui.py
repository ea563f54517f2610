"""`mosaicgan ui` in a real browser: Playwright drives Debian's Chromium (headless) against
the app served in this process (a thread), so the detector fixtures reach its jobs.

Screenshots go under the test's tmp folder (``UI_SHOTS=DIR`` keeps them in DIR instead);
``UI_README_SHOT=1`` rewrites docs/ui.png from the page.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mosaicgan.detect.base import Detection
from mosaicgan.imageio import read_image, read_metadata, write_image
from mosaicgan.mosaic import mosaic_image
from mosaicgan.options import DEFAULT_SHARPNESS
from mosaicgan.regions.detectors import find_faces
from mosaicgan.regions.masks import box_mask

from .conftest import ASTRONAUT_FACE, MarkerDetector, photo, still_clip
from .test_ui_parts import magenta_clip

# The web app's tests run in .ci/run after the default suite (their time).
pytestmark = pytest.mark.slow

pytest.importorskip("gradio", reason="the web app needs gradio: pip install -e '.[dev]'")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the browser tests need playwright: pip install -e '.[dev]'")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
                "(as root, or with sudo), or set CHROMIUM to its path",
                allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 30_000  # ms: the longest any step may take on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_translation_model) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    shutil.copytree(tiny_translation_model, folder / "coffee2cat")
    return folder


@pytest.fixture(scope="module")
def server(runs) -> Iterator:
    from mosaicgan.ui.server import start

    served = start(port=free_port(), runs=runs, max_upload_mb=2)
    yield served
    served.close()
    assert not served.workspace.root.exists()  # uploads and outputs gone with the server


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def context(browser) -> Iterator:
    """One browser context for the module: each test's page loads the app's scripts from
    its cache (a fresh context per test costs a second or two each)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def page(server, context) -> Iterator:
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((server.url.rstrip("/"), "data:",
                                                             "blob:")) else outside.append(r.url))
    page.goto(server.url)
    page.get_by_role("tab", name="Anonymise").wait_for()
    yield page
    assert outside == []  # offline: nothing is fetched from anywhere else
    page.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("UI_SHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- helpers ----------------------------------------------------------------------------

def upload(page, elem: str, path: Path) -> None:
    box = page.locator(f"#{elem}")
    if box.locator("input[type=file]").count() == 0:  # a file is there: cleared first
        box.get_by_role("button", name="Clear").click()
    box.locator("input[type=file]").set_input_files(str(path))


def status(page, elem: str, text: str) -> str:
    """Wait until the status box ``elem`` holds ``text``; its whole text."""
    box = page.locator(f"#{elem}")
    sync_api.expect(box).to_contain_text(text, timeout=TIMEOUT)
    return box.inner_text()


def click_image(page, elem: str, x: int, y: int) -> None:
    """Click the shown picture at image pixel (x, y) (scaled down to fit, never up, and
    centred in its element: as gradio maps a click back), and wait for the picture the
    click redraws."""
    img = page.locator(f"#{elem} img")
    loaded = "i => i.complete && i.naturalWidth > 0"
    page.wait_for_function(loaded, arg=img.element_handle())
    before = img.get_attribute("src")
    natural = img.evaluate("i => [i.naturalWidth, i.naturalHeight]")
    box = img.bounding_box()
    scale = min(box["width"] / natural[0], box["height"] / natural[1], 1)
    left = (box["width"] - natural[0] * scale) / 2
    top = (box["height"] - natural[1] * scale) / 2
    img.click(position={"x": left + (x + 0.5) * scale, "y": top + (y + 0.5) * scale})
    page.wait_for_function(f"([i, s]) => i && i.src !== s && ({loaded})(i)",
                           arg=[page.locator(f"#{elem} img").element_handle(), before])


def anonymise(page, found: str, done: str, shot: Path, name: str) -> tuple[str, np.ndarray]:
    """Show the regions (waiting for ``found``), apply (waiting for ``done``), screenshot,
    and the found text and the downloaded result (named ``name``)."""
    page.locator("#anon-show").click()
    text = status(page, "anon-status", found)
    page.locator("#anon-apply").click()
    status(page, "anon-status", done)
    page.screenshot(path=shot, full_page=True)
    return text, read_image(download(page, "anon-download", name))


def download(page, elem: str, name: str) -> Path:
    """Download the file the ``elem`` File component offers (it must be named ``name``)."""
    link = page.locator(f"#{elem} a[download]")
    sync_api.expect(link).to_have_attribute("href", re.compile(f"/{re.escape(name)}$"))
    with page.expect_download() as dl:
        link.click()
    return Path(dl.value.path())


def choose(page, elem: str, label: str) -> None:
    page.locator(f"#{elem}").get_by_label(label, exact=True).check()


def boxes_in(page, elem: str) -> list[tuple[int, ...]]:
    text = page.locator(f"#{elem} textarea").input_value()
    return [tuple(int(v) for v in line.split(",")) for line in text.splitlines() if line]


# --- the page ---------------------------------------------------------------------------

def test_page_loads_with_its_tabs(page, shots, runs):
    tabs = page.get_by_role("tab")
    sync_api.expect(tabs).to_have_text(["Anonymise", "Restore", "Translate", "Models"])
    sync_api.expect(page.locator("#header")).to_contain_text("Uploads up to 2 MB")
    page.get_by_role("tab", name="Models").click()
    table = page.locator("#models-table")
    sync_api.expect(table).to_contain_text("shipped restorer")
    sync_api.expect(table).to_contain_text("coffee2cat")
    sync_api.expect(page.locator("#models-card")).to_contain_text("model card")
    page.screenshot(path=shots / "models.png")
    # A run that appears while the server runs is offered once looked for.
    shutil.copytree(runs / "coffee2cat", runs / "later")
    page.locator("#models-rescan").click()
    sync_api.expect(table).to_contain_text("later")
    shutil.rmtree(runs / "later")


def test_anonymise_drawn_boxes_pixels(page, tmp_path, shots):
    """Two boxes drawn by clicks; the downloaded PNG is mosaiced inside, identical outside."""
    image = photo("chelsea")  # 451 x 300
    write_image(tmp_path / "cat.png", image)
    upload(page, "anon-upload", tmp_path / "cat.png")
    status(page, "anon-status", "451×300 image")
    for (x0, y0), (x1, y1) in [((40, 60), (160, 200)), ((300, 20), (420, 110))]:
        click_image(page, "anon-picture", x0, y0)
        click_image(page, "anon-picture", x1, y1)
    sync_api.expect(page.locator("#anon-boxes textarea")).to_have_value(
        re.compile(r"^\d+,\d+,\d+,\d+\n\d+,\d+,\d+,\d+$"))
    boxes = boxes_in(page, "anon-boxes")
    # Each box within a pixel of the corners clicked (the picture is shown scaled).
    assert np.abs(np.array(boxes) - [[40, 60, 120, 140], [300, 20, 120, 90]]).max() <= 1
    _, got = anonymise(page, "2 region(s) to hide", "Done: 2 region(s) hidden with mosaic",
                       shots / "anonymise-boxes.png", "cat_anonymised.png")
    mask = box_mask(300, 451, boxes[0]) | box_mask(300, 451, boxes[1])
    np.testing.assert_array_equal(got[~mask], image[~mask])
    assert (got[mask] != image[mask]).any(axis=-1).mean() > 0.5
    for box in boxes:  # each box is its own mosaic (default block: ~16 across)
        one = box_mask(300, 451, box)
        np.testing.assert_array_equal(got[one], mosaic_image(image, one)[one])


def test_anonymise_brushed_mask_blurred(page, tmp_path):
    """A stroke brushed across the cat's eyes: blurred there, identical far from it."""
    image = photo("chelsea")
    write_image(tmp_path / "cat.png", image)
    upload(page, "anon-upload", tmp_path / "cat.png")
    status(page, "anon-status", "451×300 image")
    choose(page, "anon-mode", "A mask I brush")
    choose(page, "anon-style", "blur")
    canvas = page.locator("#anon-brush canvas").first
    canvas.wait_for()
    # The editor shows its zoom once the picture is fitted on its canvas: draw after that.
    sync_api.expect(page.locator("#anon-brush")).to_contain_text(re.compile(r"\d+%"))
    box = canvas.bounding_box()
    y = box["y"] + box["height"] * 0.4
    x0, x1 = box["x"] + box["width"] * 0.3, box["x"] + box["width"] * 0.6
    page.mouse.move(x0 - 5, y)
    page.mouse.move(x0, y)  # (hovered first: the editor tracks where the pointer is)
    page.wait_for_timeout(200)
    page.mouse.down()
    page.mouse.move(x1, y, steps=5)
    page.mouse.up()
    page.locator("#anon-apply").click()
    status(page, "anon-status", "Done: 1 region(s) hidden with blur")
    got = read_image(download(page, "anon-download", "cat_anonymised.png"))
    changed = (got != image).any(axis=-1)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 500, changed.sum()
    assert np.ptp(xs) > 3 * np.ptp(ys), (np.ptp(xs), np.ptp(ys))  # a horizontal stroke
    np.testing.assert_array_equal(got[250:], image[250:])


def test_anonymise_faces_on_the_astronaut(page, tmp_path, shots):
    """Faces found by the real detector, shown before applying, filled solid."""
    image = photo("astronaut")
    write_image(tmp_path / "astronaut.png", image)
    upload(page, "anon-upload", tmp_path / "astronaut.png")
    status(page, "anon-status", "512×512 image")
    choose(page, "anon-mode", "Faces")
    choose(page, "anon-style", "solid")
    found, done = "1 region(s) to hide", "Done: 1 region(s) hidden with solid"
    text, got = anonymise(page, found, done, shots / "anonymise-faces.png",
                          "astronaut_anonymised.png")
    assert "face" in text
    x, y, w, h = ASTRONAUT_FACE
    assert (got[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4] == 0).all()
    np.testing.assert_array_equal(got[400:], image[400:])  # her suit, far below the face
    # The ellipse instead of the box: her face as filled, the box's corners as they were.
    choose(page, "anon-shape", "ellipse")
    _, got = anonymise(page, found, done, shots / "anonymise-ellipse.png",
                       "astronaut_anonymised.png")
    assert (got[y + h // 4:y + 3 * h // 4, x + w // 4:x + 3 * w // 4] == 0).all()
    gx, gy, gw, gh = find_faces(image).boxes[0]
    c = gw // 10
    for cx, cy in ((gx, gy), (gx + gw - c, gy), (gx, gy + gh - c), (gx + gw - c, gy + gh - c)):
        np.testing.assert_array_equal(got[cy:cy + c, cx:cx + c], image[cy:cy + c, cx:cx + c])


def test_restore_shows_the_gates_refusal(page, tmp_path, shots):
    """The demo's mosaiced face through the shipped model: the gate keeps it mosaiced and
    the page says so in plain words; the download is the input's pixels, with metadata."""
    from mosaicgan.jobs.demo import MOSAIC_BLOCK, PHOTOS, bundled_photos

    image = bundled_photos()["astronaut"]
    h, w = image.shape[:2]
    fx, fy, fw, fh = PHOTOS["astronaut"]
    box = (round(fx * w), round(fy * h), round(fw * w), round(fh * h))
    mosaiced = mosaic_image(image, box_mask(h, w, box), MOSAIC_BLOCK)
    write_image(tmp_path / "face.png", mosaiced)
    page.get_by_role("tab", name="Restore").click()
    upload(page, "restore-upload", tmp_path / "face.png")
    status(page, "restore-status", "1 mosaic(s) found")
    page.locator("#restore-go").click()
    text = status(page, "restore-status", "kept mosaiced: a face was visible")
    assert "Restored 0 of 1 region(s)" in text
    page.screenshot(path=shots / "restore-refused.png", full_page=True)
    out = download(page, "restore-download", "face_restored.png")
    np.testing.assert_array_equal(read_image(out), mosaiced)
    # (the writer keeps an unchanged image's own bytes, so there may be no record in it;
    # where there is one, it says the same as the page)
    meta = read_metadata(out)
    if meta is not None:
        assert meta["operation"] == "restore" and meta["synthesized"] == []
        assert [r["reasons"] for r in meta["refused"]] == [["face"]]


def test_restore_edited_regions(page, tmp_path, shots, no_detections):
    """Two mosaics found; one unticked: only the other is restored, the rest untouched.
    Nothing ticked and nothing drawn: Restore cannot be clicked."""
    image = photo("chelsea")
    boxes = [(48, 48, 96, 96), (288, 96, 96, 96)]
    mask = box_mask(300, 451, boxes[0]) | box_mask(300, 451, boxes[1])
    mosaiced = mosaic_image(image, mask, 12)
    write_image(tmp_path / "two.png", mosaiced)
    page.get_by_role("tab", name="Restore").click()
    upload(page, "restore-upload", tmp_path / "two.png")
    status(page, "restore-status", "2 mosaic(s) found")
    found = page.locator("#restore-found input[type=checkbox]")
    sync_api.expect(found).to_have_count(2)
    found.nth(0).uncheck()
    found.nth(1).uncheck()
    sync_api.expect(page.locator("#restore-go")).to_be_disabled()  # nothing to restore
    found.nth(1).check()
    labels = page.locator("#restore-found label")
    kept = [int(v) for v in re.findall(r"\d+", labels.nth(1).inner_text())[1:]]
    page.locator("#restore-go").click()
    status(page, "restore-status", f"Sharpness {DEFAULT_SHARPNESS:g} (")
    sync_api.expect(page.locator("#restore-status")).to_contain_text("Restored 1 of 1 region(s).")
    page.screenshot(path=shots / "restore-edited.png", full_page=True)
    out = download(page, "restore-download", "two_restored.png")
    got = read_image(out)
    region = box_mask(300, 451, tuple(kept))
    np.testing.assert_array_equal(got[~region], mosaiced[~region])
    assert (got[region] != mosaiced[region]).any(axis=-1).mean() > 0.5
    assert len(read_metadata(out)["synthesized"]) == 1 and read_metadata(out)["refused"] == []

    # The sharpness dial: the faithful end restores the same region differently.
    dial = page.locator("#restore-sharpness input[type=number]")
    dial.fill("0")
    dial.press("Enter")
    page.locator("#restore-go").click()
    status(page, "restore-status", "Sharpness 0 (")
    faithful = read_image(download(page, "restore-download", "two_restored.png"))
    np.testing.assert_array_equal(faithful[~region], mosaiced[~region])
    assert (faithful[region] != got[region]).any()


def test_translate_with_a_run_found_under_the_runs_folder(page, tmp_path, no_detections):
    image = photo("coffee")[:64, :96]
    write_image(tmp_path / "cup.png", image)
    page.get_by_role("tab", name="Translate").click()
    sync_api.expect(page.locator("#translate-model input")).to_have_value(re.compile("coffee2cat"))
    upload(page, "translate-upload", tmp_path / "cup.png")
    status(page, "translate-status", "96×64")
    page.locator("#translate-go").click()
    status(page, "translate-status", "Translated AtoB with coffee2cat")
    out = download(page, "translate-download", "cup_translated.png")
    got = read_image(out)
    assert got.shape == image.shape and not np.array_equal(got, image)
    meta = read_metadata(out)
    assert meta["operation"] == "translate" and meta["direction"] == "AtoB"


def test_broken_and_too_large_uploads_then_a_good_one(page, tmp_path, shots):
    write_image(tmp_path / "whole.png", photo("coffee"))
    (tmp_path / "broken.png").write_bytes((tmp_path / "whole.png").read_bytes()[:5000])
    upload(page, "anon-upload", tmp_path / "broken.png")
    said = status(page, "anon-error", "Not used. broken.png: corrupt or truncated image")
    page.screenshot(path=shots / "broken.png")
    assert str(tmp_path) not in said and "mosaicgan-ui-" not in said  # no folder named
    # Over the stated 2 MB limit: refused with a message, the server goes on.
    (tmp_path / "big.png").write_bytes(os.urandom(3 << 20))
    upload(page, "anon-upload", tmp_path / "big.png")
    sync_api.expect(page.locator(".toast-body", has_text="big.png")).to_contain_text(
        "exceed the maximum allowed size of 2.0 Mb")  # (gradio refuses it before uploading)
    write_image(tmp_path / "coffee.png", photo("coffee"))
    upload(page, "anon-upload", tmp_path / "coffee.png")
    status(page, "anon-status", "coffee.png")
    status(page, "anon-status", "600×400 image")
    sync_api.expect(page.locator("#anon-error")).to_be_hidden()  # until the next action


class SlowMarker(MarkerDetector):
    """Sees a face where the clip's magenta square is, slowly (so the progress shows)."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        time.sleep(0.04)
        return super().detect(image)


def test_video_anonymised_with_progress_and_playable(page, tmp_path, shots, inject):
    """Faces (injected: a magenta square) tracked through a short clip with audio: progress
    shown while it runs, the result plays in the page, audio kept, the square hidden."""
    import av

    from .test_video import audio_packets

    inject(SlowMarker())
    src = magenta_clip(tmp_path / "clip.mp4")
    upload(page, "anon-upload", src)
    status(page, "anon-status", "160×96 video")
    choose(page, "anon-mode", "Faces")
    page.locator("#anon-block input[type=number]").fill("8")
    page.locator("#anon-show").click()
    status(page, "anon-status", "1 region(s) to hide")
    page.locator("#anon-apply").click()
    progress = page.locator(".progress-level-inner").first
    sync_api.expect(progress).to_contain_text(re.compile(r"\d%"))
    page.screenshot(path=shots / "video-progress.png", full_page=True)
    # One estimate in the page: the job's own progress, not gradio's timer beside it with
    # the average of earlier runs as its ETA ("queue: 1/1 | 4.1/0.4s").
    shown = page.evaluate("document.body.innerText")
    assert len(re.findall(r"\d%", shown)) == 1, shown
    assert not re.search(r"\d\.\ds\b|queue:", shown), shown
    status(page, "anon-status", "Done: 1 region(s) hidden with mosaic")
    player = page.locator("#anon-video video")
    player.wait_for()
    page.wait_for_function(
        "v => v.readyState >= 2 && v.duration > 3", arg=player.element_handle())
    page.screenshot(path=shots / "video-done.png", full_page=True)
    out = download(page, "anon-download", "clip_anonymised.mp4")
    assert audio_packets(out) == audio_packets(src)
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 40
    for i in (0, 20, 39):  # the stripes are gone from the square wherever it went
        inside = frames[i][28:44, 18 + 2 * i:34 + 2 * i].astype(float)
        assert inside.std(axis=1).mean() < 30, i  # (the clip's own stripes: std ~ 110)


@pytest.mark.skipif(not os.environ.get("UI_README_SHOT"), reason="UI_README_SHOT=1 rewrites "
                    "docs/ui.png")
def test_readme_screenshot(browser, runs, tmp_path):
    """docs/ui.png: the astronaut's face found and mosaiced, as the page shows it (served
    with the default upload limit)."""
    from PIL import Image

    from mosaicgan.ui.server import start

    served = start(port=free_port(), runs=runs)
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(served.url)
    write_image(tmp_path / "astronaut.png", photo("astronaut"))
    upload(page, "anon-upload", tmp_path / "astronaut.png")
    status(page, "anon-status", "512×512 image")
    choose(page, "anon-mode", "Faces")
    page.locator("#anon-apply").click()
    status(page, "anon-status", "Done: 1 region(s) hidden")
    page.evaluate("window.scrollTo(0, 0)")
    slider = page.locator("#anon-compare img").first.bounding_box()
    page.mouse.move(slider["x"] + slider["width"] / 2, slider["y"] + slider["height"] / 2)
    page.mouse.down()  # the slider's handle to the left of her face: the mosaic shows
    page.mouse.move(slider["x"] + slider["width"] * 0.3, slider["y"] + slider["height"] / 2,
                    steps=4)
    page.mouse.up()
    page.mouse.move(0, 0)
    page.screenshot(path=tmp_path / "ui.png")
    # A palette PNG: the README's picture stays small (< 300 KB).
    shot = Image.open(tmp_path / "ui.png").convert("RGB")
    shot.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(
        REPO / "docs" / "ui.png", optimize=True)
    assert (REPO / "docs" / "ui.png").stat().st_size < 300_000
    context.close()
    served.close()


# --- the page tells the truth and keeps it in view (issue 22) ----------------------------

def picture_in(page, elem: str, nth: int = 0) -> np.ndarray:
    """The image the page shows in ``elem`` (its ``nth`` <img>), as RGB pixels."""
    import base64
    import io

    from PIL import Image

    img = page.locator(f"#{elem} img").nth(nth)
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    src = img.get_attribute("src")
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(src).body()
    return np.array(Image.open(io.BytesIO(data)).convert("RGB"))


def no_toast(page) -> None:
    assert page.locator(".toast-body").count() == 0  # (in the page, not in a toast)


def mosaiced_clip(path: Path, n: int = 8, box: tuple[int, int, int, int] | None = None
                  ) -> Path:
    """A still clip of the coffee cup (160x96, H.264, nearly lossless), mosaiced in ``box``
    (8 px blocks on the frame's grid) when one is given."""
    frame = photo("coffee")[120:216, 200:360]
    if box is not None:
        frame = mosaic_image(frame, box_mask(96, 160, box), 8)
    return still_clip(path, frame, n, pix_fmt="yuv420p")


def test_uploads_refused_at_once_with_the_reason_in_the_page(page, tmp_path, shots):
    """A 16-bit image, one over the pixel limit in force (imageio's, read when the file
    arrives) and a broken one: each refused when uploaded, the reason in the tab's error
    box (not a toast), nothing to apply; a good file clears it."""
    from PIL import Image

    from mosaicgan.imageio import max_pixels, set_max_pixels

    deep = (photo("camera").astype(np.uint16) * 257)
    Image.fromarray(deep).save(tmp_path / "deep.png")  # 16-bit grey
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    upload(page, "anon-upload", tmp_path / "deep.png")
    status(page, "anon-error", "Not used. deep.png: a 16-bit image")
    page.screenshot(path=shots / "anonymise-refused-16bit.png", full_page=True)
    no_toast(page)
    sync_api.expect(page.locator("#anon-apply")).to_be_disabled()
    sync_api.expect(page.locator("#anon-status")).not_to_contain_text("deep.png")

    write_image(tmp_path / "cat.png", photo("chelsea"))  # 451 x 300
    before = max_pixels()
    set_max_pixels(100_000)
    try:
        upload(page, "anon-upload", tmp_path / "cat.png")
        status(page, "anon-error", "Not used. cat.png: 451x300 is 135,300 pixels, more than "
                                   "the limit of 100,000")
    finally:
        set_max_pixels(before)
    upload(page, "anon-upload", tmp_path / "cat.png")
    status(page, "anon-status", "451×300 image")
    sync_api.expect(page.locator("#anon-error")).to_be_hidden()

    # Each tab says it in its own page.
    page.get_by_role("tab", name="Restore").click()
    upload(page, "restore-upload", tmp_path / "deep.png")
    status(page, "restore-error", "Not used. deep.png: a 16-bit image")
    sync_api.expect(page.locator("#restore-go")).to_be_disabled()
    page.screenshot(path=shots / "restore-refused-16bit.png", full_page=True)
    page.get_by_role("tab", name="Translate").click()
    (tmp_path / "broken.png").write_bytes((tmp_path / "cat.png").read_bytes()[:3000])
    upload(page, "translate-upload", tmp_path / "broken.png")
    status(page, "translate-error", "Not used. broken.png: corrupt or truncated image")
    sync_api.expect(page.locator("#translate-go")).to_be_disabled()
    page.screenshot(path=shots / "translate-refused-broken.png", full_page=True)
    no_toast(page)


def test_errors_stay_in_the_page_until_the_next_action(page, tmp_path, shots):
    """A failure when applying is shown in the page (not a toast that vanishes) and stays
    until the next action; then the download is named by the project's rule and keeps
    the upload's format."""
    from PIL import Image

    Image.fromarray(photo("chelsea")).save(tmp_path / "cat.jpg", quality=92)
    upload(page, "anon-upload", tmp_path / "cat.jpg")
    status(page, "anon-status", "451×300 image")
    boxes = page.locator("#anon-boxes textarea")
    boxes.fill("40,60,120")  # a box line missing its height
    page.locator("#anon-apply").click()
    status(page, "anon-error", "box on line 1: box '40,60,120' is not X,Y,W,H")
    page.screenshot(path=shots / "anonymise-error.png", full_page=True)
    no_toast(page)
    page.wait_for_timeout(1500)
    sync_api.expect(page.locator("#anon-error")).to_be_visible()  # still there
    boxes.fill("40,60,120,140")
    page.locator("#anon-apply").click()
    status(page, "anon-status", "Done: 1 region(s) hidden with mosaic")
    sync_api.expect(page.locator("#anon-error")).to_be_hidden()
    sync_api.expect(page.locator("#anon-download")).to_contain_text(
        "Download: the anonymised image (JPG)")
    out = download(page, "anon-download", "cat_anonymised.jpg")
    assert Image.open(out).format == "JPEG"

    # A job's own refusal: a box that misses the video's frame.
    clip = magenta_clip(tmp_path / "clip.mp4", n=10)
    upload(page, "anon-upload", clip)
    status(page, "anon-status", "160×96 video")
    choose(page, "anon-style", "blur")
    boxes.fill("500,500,40,40")
    page.locator("#anon-apply").click()
    status(page, "anon-error", "clip.mp4: the mask is empty")
    no_toast(page)
    boxes.fill("10,10,40,40")  # a video blurred, as an image would be
    page.locator("#anon-apply").click()
    status(page, "anon-status", "Done")
    sync_api.expect(page.locator("#anon-error")).to_be_hidden()


def test_actions_are_enabled_only_when_they_can_run(page, tmp_path):
    image = photo("chelsea")
    write_image(tmp_path / "cat.png", image)
    show, apply = page.locator("#anon-show"), page.locator("#anon-apply")
    for button in (show, apply):
        sync_api.expect(button).to_be_disabled()  # no file
    upload(page, "anon-upload", tmp_path / "cat.png")
    status(page, "anon-status", "451×300 image")
    for button in (show, apply):
        sync_api.expect(button).to_be_disabled()  # no box drawn yet
    click_image(page, "anon-picture", 40, 60)
    click_image(page, "anon-picture", 160, 200)
    for button in (show, apply):
        sync_api.expect(button).to_be_enabled()
    page.locator("#anon-boxes").get_by_role("textbox").fill("")
    sync_api.expect(apply).to_be_disabled()
    choose(page, "anon-mode", "Faces")  # found: nothing to draw
    sync_api.expect(apply).to_be_enabled()
    sync_api.expect(page.locator("#anon-cancel")).to_be_disabled()  # nothing running

    page.get_by_role("tab", name="Restore").click()
    go = page.locator("#restore-go")
    sync_api.expect(go).to_be_disabled()
    upload(page, "restore-upload", tmp_path / "cat.png")
    status(page, "restore-status", "no mosaic found")
    sync_api.expect(go).to_be_disabled()  # nothing to restore
    page.locator("#restore-added textarea").fill("40,60,120,140")
    sync_api.expect(go).to_be_enabled()

    page.get_by_role("tab", name="Translate").click()
    go = page.locator("#translate-go")
    sync_api.expect(go).to_be_disabled()  # a model, no file
    upload(page, "translate-upload", tmp_path / "cat.png")
    status(page, "translate-status", "451×300")
    sync_api.expect(go).to_be_enabled()


def test_translate_without_a_model_cannot_be_clicked(browser, server, tmp_path, monkeypatch):
    from mosaicgan.ui.server import start

    # (gradio reads its upload folder from the environment, which start sets: the module's
    # server gets its own back afterwards)
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(server.workspace.gradio_dir))
    served = start(port=free_port())  # no --runs, no --model: no translation model
    page = browser.new_page()
    try:
        page.set_default_timeout(TIMEOUT)
        page.goto(served.url)
        page.get_by_role("tab", name="Translate").click()
        write_image(tmp_path / "cup.png", photo("coffee")[:64, :96])
        upload(page, "translate-upload", tmp_path / "cup.png")
        status(page, "translate-status", "96×64")
        sync_api.expect(page.locator("#translate-go")).to_be_disabled()
        sync_api.expect(page.locator("#translate-model")).to_contain_text(
            "no translation model found")
    finally:
        page.close()
        served.close()


def test_transparent_pixels_are_shown_transparent(page, tmp_path, shots):
    """An RGBA upload: where it is transparent the page shows a checkerboard, not the
    colour stored under it; the download keeps the alpha channel."""
    from PIL import Image

    rgba = np.dstack([photo("chelsea"), np.full((300, 451), 255, np.uint8)])
    rgba[:, :100, :3] = (255, 0, 0)  # red, but fully transparent: never to be seen
    rgba[:, :100, 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cut.png")

    def checkerboard(shown: np.ndarray) -> None:
        left = shown[:, :100].reshape(-1, 3)
        assert not ((left[:, 0] > 200) & (left[:, 1] < 60)).any()  # no red at all
        greys = {tuple(v) for v in np.unique(left, axis=0)}
        assert greys == {(255, 255, 255), (204, 204, 204)}, sorted(greys)[:5]

    upload(page, "anon-upload", tmp_path / "cut.png")
    status(page, "anon-status", "451×300 image")
    checkerboard(picture_in(page, "anon-picture"))
    page.locator("#anon-boxes textarea").fill("300,100,80,80")
    page.locator("#anon-apply").click()
    status(page, "anon-status", "Done: 1 region(s) hidden with mosaic")
    page.screenshot(path=shots / "anonymise-rgba.png", full_page=True)
    for nth in (0, 1):  # before and after
        checkerboard(picture_in(page, "anon-compare", nth))
    out = Image.open(download(page, "anon-download", "cut_anonymised.png"))
    assert out.mode == "RGBA"
    np.testing.assert_array_equal(np.array(out)[..., 3], rgba[..., 3])


def test_video_restore_says_what_it_restored(page, tmp_path, shots, no_detections):
    """A mosaiced clip: the page says how many tracked regions were restored, and the
    download is a video named by the rule; a clip without a mosaic: nothing restored, and
    the page says so."""
    clip = mosaiced_clip(tmp_path / "cup.mp4", box=(48, 24, 64, 48))
    page.get_by_role("tab", name="Restore").click()
    upload(page, "restore-upload", clip)
    status(page, "restore-status", "1 mosaic(s) found")
    page.locator("#restore-go").click()
    text = status(page, "restore-status", "Restored 1 of 1 tracked region(s) in 8 frame(s).")
    assert "Restored the video" not in text
    page.screenshot(path=shots / "restore-video.png", full_page=True)
    sync_api.expect(page.locator("#restore-download")).to_contain_text(
        "Download: the restored video (MP4)")
    sync_api.expect(page.locator("#restore-download")).not_to_contain_text("image")
    out = download(page, "restore-download", "cup_restored.mp4")
    import av

    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 8

    plain = mosaiced_clip(tmp_path / "plain.mp4")
    upload(page, "restore-upload", plain)
    status(page, "restore-status", "no mosaic found; Restore looks for them in every frame")
    page.locator("#restore-go").click()
    status(page, "restore-status", "Nothing restored: no mosaic was found in the video's 8 "
                                   "frame(s)")


class SlowerMarker(MarkerDetector):
    """A face where the clip's magenta square is, found slowly: a job long enough to
    cancel."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        time.sleep(0.1)
        return super().detect(image)


def test_cancel_stops_the_running_job(page, tmp_path, shots, inject, server):
    """Cancel while a video is being anonymised: the job itself stops (the detector is not
    called again), nothing is written, the page says so; Cancel is off again."""
    marker = inject(SlowerMarker())
    jobs = server.workspace.root / "jobs"
    before = set(jobs.iterdir()) if jobs.is_dir() else set()
    upload(page, "anon-upload", magenta_clip(tmp_path / "clip.mp4"))
    status(page, "anon-status", "160×96 video")
    choose(page, "anon-mode", "Faces")
    cancel = page.locator("#anon-cancel")
    sync_api.expect(cancel).to_be_disabled()
    page.locator("#anon-apply").click()
    sync_api.expect(page.locator(".progress-level-inner").first).to_contain_text("%")
    sync_api.expect(cancel).to_be_enabled()
    cancel.click()
    status(page, "anon-status", "Cancelled: the job stopped and nothing was written.")
    page.screenshot(path=shots / "anonymise-cancelled.png", full_page=True)
    sync_api.expect(cancel).to_be_disabled()
    calls = marker.calls  # (said once the job has ended: after the batch it was on)
    assert calls < 40  # one call a frame: the clip was not done
    page.wait_for_timeout(2000)
    assert marker.calls == calls  # stopped, not running on unseen
    [job] = set(jobs.iterdir()) - before  # this upload's folder
    left = [p.relative_to(job) for p in job.rglob("*") if p.is_file()]
    assert sorted(map(str, left)) == ["frame.png", "in/clip.mp4"]  # no output, partial or not
    sync_api.expect(page.locator("#anon-download")).to_be_hidden()
    sync_api.expect(page.locator("#anon-error")).to_be_hidden()


def test_the_pages_defaults_are_the_command_lines(page):
    """Face and nudity margins, style, block and sharpness: as the command line applies
    them, its help saying the same numbers."""
    from click.testing import CliRunner

    from mosaicgan.cli import main
    from mosaicgan.regions.detectors import FACE_MARGIN, NUDITY_MARGIN

    said = " ".join(CliRunner().invoke(main, ["mosaic", "--help"]).output.split())
    assert f"[{FACE_MARGIN}/{NUDITY_MARGIN}]" in said
    # What the command passes on when no option is given.
    mosaic = main.commands["mosaic"].make_context("mosaic", [], resilient_parsing=True).params
    assert page.locator("#anon-style input:checked").input_value() == mosaic["style"]
    assert mosaic["block"] is None  # about 16 blocks across: the page's 0
    assert page.locator("#anon-block input[type=number]").input_value() == "0"
    margin = page.locator("#anon-margin input[type=number]")
    choose(page, "anon-mode", "Faces")
    sync_api.expect(margin).to_have_value(str(FACE_MARGIN))
    choose(page, "anon-mode", "Nudity")
    sync_api.expect(margin).to_have_value(str(NUDITY_MARGIN))
    page.get_by_role("tab", name="Restore").click()
    sharpness = page.locator("#restore-sharpness input[type=number]")
    sync_api.expect(sharpness).to_have_value(f"{DEFAULT_SHARPNESS:g}")
