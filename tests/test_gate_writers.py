"""Every writer, on a real face: what the gate refuses is never written.

The writers: image restore (command line and API), video restore, translate of files and
videos, the web app's Translate tab and its video restore, the sample sheets of masked
pix2pix and of CycleGAN, the demo's sheet, the eval grid and the pairs job. Each test
feeds scikit-image's astronaut with her face mosaiced, makes the generator "perfect" where
that is the point (it returns her clean face: what an ungated output would show), and
checks that the face is kept as the input had it, the panel withheld or the output
refused. Each fails when the gate call it covers is removed (scripts/mutation_check.py).

The gate sees the face through the real detector where one call is cheap, through
injected detections where a video needs many; never through nudity.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mosaicgan.detect import shared
from mosaicgan.detect.base import Detection
from mosaicgan.imageio import read_image, write_image
from mosaicgan.models.restorer import Restorer, crop_padded
from mosaicgan.models.translator import Translator
from mosaicgan.mosaic import mosaic_image
from mosaicgan.regions.masks import box_mask
from mosaicgan.sheets import WITHHELD_GREY

from .conftest import ASTRONAUT_FACE, FakeDetector, detector_replaced, photo, still_clip

# A 192 px frame of the astronaut's head (her face at FRAME_FACE), for the video writers.
HEAD = (120, 40, 256, 256)  # x, y, w, h in the photo
FRAME = 192
FRAME_FACE = (40, 32, 80, 72)  # her face in the frame: whole 8 px cells from its corner
BLOCK = 8


class Counting:
    """The detector it wraps, counting its calls (was the gate consulted?)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.calls += 1
        return self.inner.detect(image)


class FaceEverywhere(FakeDetector):
    """Sees a face in every view (for video jobs, where the real detector would take a
    minute): whatever region the gate screens, a face overlaps it."""

    def __init__(self):
        super().__init__([Detection("FACE", 0.9, (0, 0, 1 << 14, 1 << 14))])


@pytest.fixture
def real_detector(inject) -> Counting:
    """The project's own detector (CenterFace + NudeNet), counted."""
    return inject(Counting(shared.shared_detector()))


def mosaiced_astronaut() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean photo, photo with her face mosaiced, the face's mask)."""
    clean = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    return clean, mosaic_image(clean, mask, 12), mask


def head_frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(clean frame, frame with her face mosaiced, the face's mask), FRAME px square."""
    x, y, w, h = HEAD
    clean = cv2.resize(photo("astronaut")[y:y + h, x:x + w], (FRAME, FRAME),
                       interpolation=cv2.INTER_AREA)
    mask = box_mask(FRAME, FRAME, FRAME_FACE)
    return clean, mosaic_image(clean, mask, BLOCK, FRAME_FACE[:2]), mask


def frames_of(path: Path) -> np.ndarray:
    from mosaicgan.video.io import read_frames

    return np.stack([f for _, f in read_frames(path)])


@pytest.fixture
def perfect_restorer(monkeypatch):
    """``perfect_restorer(clean)``: every Restorer (however loaded) generates the crops of
    ``clean``: a restoration that brings the face back exactly."""
    def use(clean: np.ndarray) -> None:
        def generated(self, plans, batch):
            assert all(p.rescaled is None for p in plans)  # (crops of the frame itself)
            return [crop_padded(clean, *p.window) for p in plans]
        monkeypatch.setattr(Restorer, "_generated", generated)
    return use


@pytest.fixture
def face_translator(monkeypatch):
    """``face_translator(face)``: every Translator outputs ``face`` (resized to its input):
    a model that turns a mosaiced face into a clean one."""
    def use(face: np.ndarray) -> None:
        def generate(self, image):
            return np.ascontiguousarray(cv2.resize(face, (image.shape[1], image.shape[0]),
                                                   interpolation=cv2.INTER_AREA))
        monkeypatch.setattr(Translator, "_generate", generate)
        monkeypatch.setattr(Translator, "_generate_batch",
                            lambda self, images: [generate(self, im) for im in images])
    return use


def written(report) -> list[Path]:
    return [Path(p) for p in report.written]


def in_mask_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean absolute difference of two images (or frame stacks) inside ``mask``."""
    return float(np.abs(a[..., mask, :].astype(int) - b[..., mask, :]).mean())


# --- restore: images ----------------------------------------------------------------------

def test_cli_restore_keeps_her_face_mosaiced(tmp_path, tiny_model, real_detector,
                                             perfect_restorer):
    from click.testing import CliRunner

    from mosaicgan.cli import main

    clean, mosaiced, _ = mosaiced_astronaut()
    perfect_restorer(clean)
    write_image(tmp_path / "in" / "astronaut.png", mosaiced)
    result = CliRunner().invoke(main, ["restore", str(tmp_path / "in"), "-o",
                                       str(tmp_path / "out"), "--model", str(tiny_model),
                                       "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert real_detector.calls > 0 and "face" in result.output
    (out,) = [p for p in (tmp_path / "out").rglob("*.png")]
    np.testing.assert_array_equal(read_image(out), mosaiced)


def test_api_restore_files_keeps_her_face_mosaiced(tmp_path, tiny_model, real_detector,
                                                   perfect_restorer):
    from mosaicgan.api import restore_files

    clean, mosaiced, mask = mosaiced_astronaut()
    perfect_restorer(clean)
    write_image(tmp_path / "in" / "astronaut.png", mosaiced)
    write_image(tmp_path / "face.png", mask.astype(np.uint8) * 255)
    report = restore_files([tmp_path / "in"], tmp_path / "out", model=tiny_model,
                           mask=tmp_path / "face.png", device="cpu", log=lambda _: None)
    assert real_detector.calls > 0
    assert any("face" in note for note in report.notes)
    (out,) = written(report)
    np.testing.assert_array_equal(read_image(out), mosaiced)


# --- restore: video -----------------------------------------------------------------------

def test_restore_video_keeps_her_face_mosaiced(tmp_path, tiny_model, inject,
                                               perfect_restorer):
    from mosaicgan.api import restore_files
    from mosaicgan.options import VideoOptions

    clean, mosaiced, mask = head_frame()
    perfect_restorer(clean)
    src = still_clip(tmp_path / "in" / "head.mp4", mosaiced)
    before = frames_of(src)
    write_image(tmp_path / "face.png", mask.astype(np.uint8) * 255)
    seen = inject(FaceEverywhere())
    report = restore_files([src], tmp_path / "out", model=tiny_model,
                           mask=tmp_path / "face.png", device="cpu",
                           video=VideoOptions(progress=False), log=lambda _: None)
    assert seen.calls > 0 and report.notes  # "tracked region(s) kept mosaiced"
    (out,) = written(report)
    after = frames_of(out)
    assert len(after) == len(before)
    assert in_mask_error(after, before, mask) < 2  # the mosaic, through the codec
    assert in_mask_error(before, clean, mask) > 10  # (the face would look different)


# --- translate ----------------------------------------------------------------------------

def test_translate_files_refuses_a_face_the_input_hid(tmp_path, tiny_translation_model,
                                                      real_detector, face_translator):
    from mosaicgan.api import translate_files

    clean, mosaiced, _ = mosaiced_astronaut()
    face_translator(clean)
    write_image(tmp_path / "in" / "astronaut.png", mosaiced)
    report = translate_files([tmp_path / "in"], tmp_path / "out",
                             model=tiny_translation_model, device="cpu", log=lambda _: None)
    assert real_detector.calls > 0
    assert not written(report) and len(report.skipped) == 1
    assert "face" in report.skipped[0][1]
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


def test_translate_video_refuses_a_face_the_input_hid(tmp_path, tiny_translation_model,
                                                      real_detector, face_translator):
    from mosaicgan.api import translate_files
    from mosaicgan.options import VideoOptions

    clean, mosaiced, _ = head_frame()
    face_translator(clean)
    src = still_clip(tmp_path / "in" / "head.mp4", mosaiced)
    report = translate_files([src], tmp_path / "out", model=tiny_translation_model,
                             device="cpu", video=VideoOptions(progress=False),
                             log=lambda _: None)
    assert real_detector.calls > 0
    assert not written(report) and len(report.skipped) == 1
    assert "face" in report.skipped[0][1]
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))


# --- the web app --------------------------------------------------------------------------

def tab_handlers(module_name: str, ctx) -> dict:
    """The event functions a tab registers (by name), to be called here without a browser
    through :func:`call`."""
    gr = pytest.importorskip("gradio")
    import importlib

    tab = importlib.import_module(module_name)
    with gr.Blocks() as blocks:
        tab.build(ctx)
    fns = [getattr(f, "fn", None) for f in blocks.fns.values()]
    return {f.__name__: f for f in fns if f is not None
            and getattr(f, "__module__", "") == module_name}


def call(handler, *args):
    """``handler(*args)``, with a stand-in for the page's request where it takes one (its
    progress tracker keeps its default); a generator is run to its last value."""
    import inspect
    from types import SimpleNamespace

    params = inspect.signature(handler).parameters
    extra = {"request": SimpleNamespace(session_hash="test", username=None)} \
        if "request" in params else {}
    result = handler(*args, **extra)
    if inspect.isgenerator(result):  # a job that yields as it starts (so Cancel can run)
        *_, result = result
    return result


def job_outputs(state: dict) -> list[Path]:
    """The files a tab's job wrote (beside its input, in the upload's job folder)."""
    job = Path(state["src"]).parent.parent
    return [p for p in job.rglob("*") if p.is_file()
            and any(part.startswith("out") for part in p.relative_to(job).parts[:-1])]


@pytest.fixture
def ui_context(tiny_model, tiny_translation_model):
    pytest.importorskip("gradio")
    from mosaicgan.ui.context import Context
    from mosaicgan.ui.workspace import Workspace

    ctx = Context(Workspace(max_upload_mb=20),
                  model_sources=[str(tiny_model), str(tiny_translation_model)])
    yield ctx
    ctx.workspace.remove()


def test_web_translate_tab_refuses_a_face_the_input_hid(tmp_path, ui_context,
                                                        tiny_translation_model,
                                                        real_detector, face_translator):
    clean, mosaiced, _ = mosaiced_astronaut()
    face_translator(clean)
    upload = write_image(tmp_path / "astronaut.png", mosaiced)
    handlers = tab_handlers("mosaicgan.ui.translate", ui_context)
    state = call(handlers["load"], str(upload))[0]
    shown = call(handlers["run"], state, str(tiny_translation_model), "AtoB")
    assert real_detector.calls > 0
    said = " ".join(v for v in shown if isinstance(v, str))
    assert "refused" in said and "face" in said
    assert not any(isinstance(v, tuple) for v in shown)  # no before/after pair shown
    assert not job_outputs(state)


def test_web_restore_tab_keeps_her_face_mosaiced_in_a_video(tmp_path, ui_context, tiny_model,
                                                            inject, perfect_restorer):
    clean, mosaiced, mask = head_frame()
    perfect_restorer(clean)
    src = still_clip(tmp_path / "head.mp4", mosaiced)
    handlers = tab_handlers("mosaicgan.ui.restore", ui_context)
    state, _, found, *_ = call(handlers["load"], str(src))
    ticked = found["value"]
    assert ticked, "find-mosaic found her mosaiced face"
    seen = inject(FaceEverywhere())
    call(handlers["run"], state, str(tiny_model), 0.5, ticked, "")
    assert seen.calls > 0
    (out,) = [p for p in job_outputs(state) if p.suffix == src.suffix]
    after, before = frames_of(out), frames_of(src)
    assert in_mask_error(after, before, mask) < 2
    assert in_mask_error(before, clean, mask) > 10


# --- sheets -------------------------------------------------------------------------------

def is_withheld(panel: np.ndarray) -> bool:
    return bool((np.abs(panel.astype(int) - WITHHELD_GREY) <= 2).all(axis=2).mean() > 0.8)


def sheet_panels(sheet: np.ndarray, side: int, gap: int = 4) -> list[list[np.ndarray]]:
    rows = (sheet.shape[0] + gap) // (side + gap)
    cols = (sheet.shape[1] + gap) // (side + gap)
    return [[sheet[i * (side + gap):i * (side + gap) + side,
                   j * (side + gap):j * (side + gap) + side] for j in range(cols)]
            for i in range(rows)]


def test_masked_sample_sheet_withholds_the_restored_face(tmp_path, inject, monkeypatch):
    """Restoration training on crops of the astronaut, whose face the training screen
    missed (it leaves out pairs over a face it sees): at the sample sheet the gate sees
    it, and the output and target panels, what was under the mask, are withheld; the
    inputs are shown."""
    from mosaicgan.api import make_pairs, train_pix2pix
    from mosaicgan.train import loop
    from mosaicgan.train.loop import LoopOptions

    write_image(tmp_path / "photos" / "astronaut.png",
                cv2.resize(photo("astronaut"), (128, 128), interpolation=cv2.INTER_AREA))
    inject(FakeDetector())  # the pairs job and the training screen see no face...
    make_pairs(tmp_path / "photos", tmp_path / "pairs", size=32, per_image=4, val=0.0,
               seed=1, log=lambda _: None, progress=False)
    seen = FaceEverywhere()
    screened_rows = loop.screened_rows

    def at_the_sheet(rows, masks=None):  # ...the gate at the sample sheet does
        with detector_replaced(seen):
            return screened_rows(rows, masks)
    monkeypatch.setattr(loop, "screened_rows", at_the_sheet)
    run = tmp_path / "run"
    train_pix2pix(tmp_path / "pairs", run, config={"size": 32, "ngf": 8, "ndf": 8},
                  log=lambda _: None,
                  loop=LoopOptions(steps=1, batch=2, progress=False, sample_every=1,
                                   precision="fp32"))
    (sheet,) = (run / "samples").glob("*.png")
    rows = sheet_panels(read_image(sheet), 32)
    assert seen.calls > 0 and rows and all(len(r) == 3 for r in rows)
    for first, *made in rows:
        assert not is_withheld(first)
        assert all(is_withheld(p) for p in made)


class ShowsFace(torch.nn.Module):
    """A generator whose every output is one picture (in [-1, 1], at its input's size)."""

    def __init__(self, picture: np.ndarray):
        super().__init__()
        self.register_buffer("picture", torch.from_numpy(picture).permute(2, 0, 1)[None]
                             .float() / 127.5 - 1)
        self.weight = torch.nn.Parameter(torch.zeros(1))  # (something to optimise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.nn.functional.interpolate(self.picture, size=x.shape[-2:], mode="area")
        return out.expand(len(x), -1, -1, -1) + self.weight * x.mean()


def test_cyclegan_sample_sheet_withholds_a_face_no_input_showed(tmp_path, monkeypatch,
                                                                real_detector):
    """A: her mosaiced face, B: coffee; both generators output her clean face, which no
    input row showed: every output panel is withheld, every input shown."""
    from mosaicgan.api import train_cyclegan
    from mosaicgan.train import cyclegan
    from mosaicgan.train.loop import LoopOptions

    x, y, w, h = HEAD
    face = cv2.resize(photo("astronaut")[y:y + h, x:x + w], (64, 64),
                      interpolation=cv2.INTER_AREA)
    write_image(tmp_path / "ds" / "trainA" / "a.png",
                mosaic_image(face, np.ones((64, 64), bool), 8))
    write_image(tmp_path / "ds" / "trainB" / "b.png",
                cv2.resize(photo("coffee")[:300, :300], (64, 64), interpolation=cv2.INTER_AREA))
    monkeypatch.setattr(cyclegan, "build_generator", lambda cfg: ShowsFace(face))
    run = tmp_path / "run"
    train_cyclegan(tmp_path / "ds", run, config={"size": 64, "ndf": 8}, log=lambda _: None,
                   loop=LoopOptions(steps=1, progress=False, sample_every=1,
                                    precision="fp32"))
    (sheet,) = (run / "samples").glob("*.png")
    rows = sheet_panels(read_image(sheet), 64)
    assert real_detector.calls > 0 and len(rows) == 2 and all(len(r) == 3 for r in rows)
    for first, *made in rows:
        assert not is_withheld(first)
        assert all(is_withheld(p) for p in made)


def untrained_run(data, run: Path, **_) -> None:
    """A restoration run of a fresh (untrained) 32 px pix2pix: the demo's training, skipped."""
    from mosaicgan.models.checkpoint import save_checkpoint
    from mosaicgan.nets.pix2pix import Pix2PixConfig
    from mosaicgan.train.pix2pix import Pix2Pix

    model = Pix2Pix(Pix2PixConfig(size=32, ngf=8, ndf=8, mask_channel=True),
                    torch.device("cpu"))
    save_checkpoint(run, kind=model.kind, config=model.config_dict(), step=0,
                    modules=model.modules())


def test_demo_sheet_withholds_her_face(tmp_path, monkeypatch, real_detector):
    """The demo's sheet with its training skipped (an untrained model stands in): her face,
    what the mosaic hid, is withheld; the shipped model's restoration of it (a face, to
    the real detector) is kept mosaiced."""
    from mosaicgan.jobs import demo
    from mosaicgan.models.backends import BACKEND_ENV

    monkeypatch.setenv(BACKEND_ENV, "torch")  # (measuring backends is not the point here)
    monkeypatch.setattr(demo, "PHOTOS", {"astronaut": demo.PHOTOS["astronaut"]})
    monkeypatch.setattr(demo, "make_pairs", lambda *a, **k: None)
    monkeypatch.setattr(demo, "_calibrated_steps", lambda *a, **k: 1)
    monkeypatch.setattr(demo, "train_pix2pix", untrained_run)
    drawn = []
    sheet = demo.before_after_sheet
    monkeypatch.setattr(demo, "before_after_sheet", lambda rows: drawn.append(rows) or
                        sheet(rows))
    out = demo.run_demo(tmp_path / "demo", minutes=0.01, log=lambda _: None)
    assert out.is_file() and real_detector.calls > 0
    [[row]] = drawn
    (mosaiced, _), *_, (original, label) = row
    assert "withheld" in label and is_withheld(original)
    height, width = mosaiced.shape[:2]
    x, y, w, h = demo.PHOTOS["astronaut"]
    face = box_mask(height, width, (round(x * width), round(y * height), round(w * width),
                                    round(h * height)))
    shipped = [image for image, text in row if text.startswith("default model")]
    for image in shipped:  # kept mosaiced: the face the shipped model brought back
        np.testing.assert_array_equal(image[face], mosaiced[face])


def test_eval_grid_withholds_every_panel_of_her_face(inject, monkeypatch):
    """The eval report's grid: each method's output and the target show her face under
    the mask: withheld; the mosaic is shown."""
    from mosaicgan.jobs import evaluate

    clean, mosaiced, mask = mosaiced_astronaut()
    sample = evaluate.Sample("astronaut", 12, clean, mosaiced, mask, ASTRONAUT_FACE[:2],
                             {"model": clean, "bicubic": clean})
    seen = inject(FaceEverywhere())
    drawn = []
    sheet = evaluate.before_after_sheet
    monkeypatch.setattr(evaluate, "before_after_sheet",
                        lambda rows: drawn.append(rows) or sheet(rows))
    evaluate.crop_grid([sample], ["mosaic", "model", "bicubic"])
    [[[(first, _), *made]]] = drawn
    assert seen.calls > 0 and not is_withheld(first)
    assert [label for _, label in made] == ["model", "bicubic", "target"]
    assert all(is_withheld(panel) for panel, _ in made)


# --- training data ------------------------------------------------------------------------

class WholePhotoFace:
    """Sees the astronaut's face only in the whole photo, never in a crop of it (a face
    that only the whole photo shows: crops of it are screened against it too)."""

    def detect(self, image: np.ndarray) -> list[Detection]:
        return [Detection("FACE", 0.9, ASTRONAUT_FACE)] if image.shape == (512, 512, 3) \
            else []


def test_pairs_leave_out_crops_over_a_face_seen_in_the_whole_photo(tmp_path, inject):
    """The restorer never learns to de-mosaic a face, even one only the whole photo
    shows: the photo's face boxes are screened against every crop's mosaic."""
    from mosaicgan.api import make_pairs

    write_image(tmp_path / "in" / "astronaut.png", photo("astronaut"))
    inject(WholePhotoFace())
    report = make_pairs(tmp_path / "in", tmp_path / "ds", size=128, per_image=16, val=0.0,
                        seed=1, log=lambda _: None, progress=False)
    reasons = [r for _, r in report.skipped]
    assert reasons and set(reasons) == {"face"}
    assert 0 < report.pairs["train"] == 16 - len(reasons)
