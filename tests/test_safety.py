"""The safety gate, with real faces (scikit-image's astronaut) and injected detections.

No image in the project shows nudity: nudity paths are tested by injecting detector results.
The detector is replaced only through the fixtures (``inject``, ``no_detections``): nothing
public takes one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mosaicgan import safety
from mosaicgan.api import make_pairs, mosaic_image, train_pix2pix
from mosaicgan.detect.base import Detection
from mosaicgan.errors import InputError
from mosaicgan.imageio import read_image, write_image
from mosaicgan.models.restorer import Restorer, crop_padded
from mosaicgan.nets.pix2pix import Pix2PixConfig
from mosaicgan.regions.masks import box_mask
from mosaicgan.safety import screen_image, screen_region, screen_translation
from mosaicgan.train.loop import LoopOptions

from .conftest import ASTRONAUT_FACE, FakeDetector, MarkerDetector, photo
from .test_detect import astronaut_on_canvas

EXPOSED = "FEMALE_BREAST_EXPOSED"


def test_real_face_is_caught_and_a_cup_is_not():
    assert screen_region(photo("astronaut"), ASTRONAUT_FACE) == ["face"]
    # A small part of her face: the wider view sees the face around it.
    assert "face" in screen_region(photo("astronaut"), (200, 110, 40, 40))
    assert screen_region(photo("coffee"), (150, 100, 250, 200)) == []
    assert screen_region(photo("astronaut"), (20, 380, 100, 100)) == []  # her suit


def marked(image: np.ndarray, box) -> np.ndarray:
    """A copy with a magenta square (what MarkerDetector sees) over ``box``."""
    out = image.copy()
    x, y, w, h = box
    out[y:y + h, x:x + w] = MarkerDetector.MAGENTA
    return out


@pytest.mark.parametrize("label,score,marker,expected", [
    (EXPOSED, 0.9, (200, 150, 30, 30), ["nudity"]),
    (EXPOSED, 0.3, (200, 150, 30, 30), ["nudity"]),  # outputs err on the side of caution
    (EXPOSED, 0.2, (200, 150, 30, 30), []),
    ("FEET_EXPOSED", 0.9, (200, 150, 30, 30), []),
    ("BELLY_EXPOSED", 0.9, (200, 150, 30, 30), []),
    ("FACE_MALE", 0.26, (200, 150, 30, 30), ["face"]),  # NudeNet's faces from 0.25
    ("FACE_MALE", 0.24, (200, 150, 30, 30), []),
    ("FACE", 0.31, (200, 150, 30, 30), ["face"]),  # CenterFace's from 0.3
    ("FACE", 0.29, (200, 150, 30, 30), []),
    (EXPOSED, 0.9, (10, 10, 20, 20), []),  # in the wider context, not in the region
])
def test_injected_detections_in_a_region(inject, label, score, marker, expected):
    """Detections injected at a place in the image, whatever view the gate looks through."""
    inject(MarkerDetector(label, score))
    image = marked(photo("coffee"), marker)
    assert screen_region(image, (150, 100, 200, 200)) == expected


def test_training_screen_threshold(inject):
    image = photo("coffee")
    inject(FakeDetector([Detection(EXPOSED, 0.6, (0, 0, 9, 9))]))
    assert screen_image(image) == ["nudity"]
    inject(FakeDetector([Detection(EXPOSED, 0.4, (0, 0, 9, 9))]))
    assert screen_image(image) == []
    inject(FakeDetector([Detection("FACE_FEMALE", 0.9, (0, 0, 9, 9))]))
    assert screen_image(image) == []  # faces are not a reason to leave a photo out


class FlagDetector:
    """Reports nudity in one given image and nothing anywhere else."""

    def __init__(self, flagged: np.ndarray):
        self.flagged = flagged

    def detect(self, image):
        same = image.shape == self.flagged.shape and (image == self.flagged).all()
        return [Detection(EXPOSED, 0.9, (0, 0, 4, 4))] if same else []


def test_pairs_skip_flagged_photos_and_name_them(photos_dir, tmp_path, inject):
    flagged = read_image(photos_dir / "coffee.png")
    inject(FlagDetector(flagged))
    report = make_pairs(photos_dir, tmp_path / "ds", size=32, per_image=2, val=0.0,
                        log=lambda _: None, progress=False)
    assert [(p.rsplit("/", 1)[-1], r) for p, r in report.skipped] == [("coffee.png", "nudity")]
    assert report.pairs["train"] == 6
    assert "coffee" not in (tmp_path / "ds" / "train" / "pairs.jsonl").read_text()


def test_pairs_leave_out_crops_whose_mosaic_covers_a_face(tmp_path):
    """The real detector, on the astronaut: the restorer never learns to de-mosaic a face."""
    write_image(tmp_path / "in" / "astronaut.png", photo("astronaut"))
    lines = []
    report = make_pairs(tmp_path / "in", tmp_path / "ds", size=128, per_image=24, val=0.0,
                        seed=1, log=lines.append, progress=False)
    faces = [p for p, reason in report.skipped if reason == "face"]
    assert faces and all("(crop" in p for p in faces)
    assert any(f"{len(faces)} crop(s) left out" in line for line in lines)
    assert 0 < report.pairs["train"] == 24 - len(report.skipped)
    for mask_file in (tmp_path / "ds" / "train").glob("*_mask.png"):
        clean = read_image(str(mask_file).replace("_mask", "_clean"))
        mask = read_image(mask_file)[..., 0] > 0
        assert safety.screen_pair(clean, mask) == [], mask_file.name


def test_training_leaves_out_flagged_pairs(tiny_pairs, tmp_path, inject):
    first_clean = read_image(sorted((tiny_pairs / "train").glob("*_clean.png"))[0])
    inject(FlagDetector(first_clean))
    lines = []
    train_pix2pix(tiny_pairs, tmp_path / "run", config={"size": 32, "ngf": 8, "ndf": 8},
                  log=lines.append, loop=LoopOptions(steps=1, progress=False, sample_every=0))
    assert any("00000_000" in line and "nudity" in line for line in lines)
    assert "safety screen: 1 pair(s) left out: nudity" in lines
    inject(FakeDetector([Detection(EXPOSED, 0.9, (0, 0, 4, 4))]))
    with pytest.raises(InputError, match="no training images left"):
        train_pix2pix(tiny_pairs, tmp_path / "run2", log=lambda _: None,
                      loop=LoopOptions(steps=1, progress=False))


class OracleRestorer(Restorer):
    """A 'perfect' restorer: it returns the clean photo, so a restored face is a real face."""

    def __init__(self, clean, match_cells=False):
        super().__init__(torch.nn.Identity(), Pix2PixConfig(size=64), torch.device("cpu"),
                         "oracle", match_cells)
        self.clean = clean

    def _generated(self, plans, batch):
        return [crop_padded(self.clean, *p.window) for p in plans]


def test_restoring_a_face_keeps_the_mosaic():
    clean = photo("astronaut")
    mask = box_mask(512, 512, ASTRONAUT_FACE)
    mosaiced = mosaic_image(clean, mask, 12)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert [(r.restored, r.reasons) for r in result.regions] == [(False, ["face"])]
    np.testing.assert_array_equal(result.image, mosaiced)


@pytest.mark.parametrize("face_px", [16, 128])
def test_a_small_face_under_a_large_region_is_seen(face_px):
    """A 900x900 mosaic on a 2000x1500 photo, restored perfectly: a 16 px or 128 px face
    anywhere in it keeps the whole region mosaiced (the gate looks at the detector's
    scale, not at one 320 px view of the region)."""
    grass = np.repeat(photo("grass")[..., None], 3, 2)  # (upscaled coffee cups fool NudeNet)
    clean = np.ascontiguousarray(np.tile(grass, (3, 4, 1))[:1500, :2000])
    clean, face = astronaut_on_canvas(face_px, (1020, 1010), (0, 0), clean, head=True)
    region = (500, 300, 900, 900)
    mask = box_mask(1500, 2000, region)
    assert face[0] > 500 and face[1] + face[3] < 1200  # inside the region
    mosaiced = mosaic_image(clean, mask, 16)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert [r.reasons for r in result.regions] == [["face"]]
    np.testing.assert_array_equal(result.image, mosaiced)


def test_a_group_shot_under_a_mosaic_is_refused():
    clean = np.full((700, 1600, 3), 128, np.uint8)
    x = 0
    for face_px in (20, 30, 45, 70):
        astronaut_on_canvas(face_px, (x + face_px, 500 - face_px), (0, 0), clean, head=True)
        x += 3 * face_px + 20
    mask = box_mask(700, 1600, (0, 380, 560, 180))
    mosaiced = mosaic_image(clean, mask, 10)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert [r.reasons for r in result.regions] == [["face"]]


def test_oracle_restores_a_region_without_faces():
    clean = photo("astronaut")
    mask = box_mask(512, 512, (20, 380, 100, 100))
    mosaiced = mosaic_image(clean, mask, 10)
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert result.synthesized == [(20, 380, 100, 100)]
    inner = box_mask(512, 512, (23, 383, 94, 94))
    np.testing.assert_array_equal(result.image[inner], clean[inner])
    np.testing.assert_array_equal(result.image[~mask], mosaiced[~mask])
    # Matching the mosaic's cell colours keeps a perfect restoration perfect (up to the
    # rounding of the cell colours to whole levels).
    matched = OracleRestorer(clean, match_cells=True).restore(mosaiced, mask).image
    assert np.abs(matched[inner].astype(int) - clean[inner]).max() <= 1
    np.testing.assert_array_equal(matched[~mask], mosaiced[~mask])


def test_injected_nudity_keeps_the_region_as_it_was(inject):
    clean = photo("coffee")
    mask = box_mask(400, 600, (200, 100, 150, 120))
    mosaiced = mosaic_image(clean, mask, 10)
    inject(FakeDetector([Detection(EXPOSED, 0.8, (0, 0, 1000, 1000))]))
    result = OracleRestorer(clean).restore(mosaiced, mask)
    assert result.refused[0].reasons == ["nudity"] and not result.synthesized
    np.testing.assert_array_equal(result.image, mosaiced)


def test_shipped_model_never_writes_the_astronauts_face():
    """The default model's smooth restoration of a mosaiced face is seen as a face (with
    the head around it) and kept mosaiced: the demo's case, with the real detector."""
    from mosaicgan.api import load_restorer, restore_image
    from mosaicgan.jobs.demo import MOSAIC_BLOCK, PHOTOS, bundled_photos

    image = bundled_photos()["astronaut"]
    h, w = image.shape[:2]
    x, y, bw, bh = PHOTOS["astronaut"]
    mask = box_mask(h, w, (round(x * w), round(y * h), round(bw * w), round(bh * h)))
    mosaiced = mosaic_image(image, mask, MOSAIC_BLOCK)
    result = restore_image(mosaiced, load_restorer("default", device="cpu"))
    assert result.regions and not result.synthesized
    assert all(r.reasons == ["face"] for r in result.regions)
    np.testing.assert_array_equal(result.image, mosaiced)


# --- translation: a face the input did not show ------------------------------------------

class OracleTranslator:
    """Translates to a fixed picture (e.g. the clean photo behind a mosaic), gated."""

    def __new__(cls, target: np.ndarray):
        from mosaicgan.models.translator import Translator

        class _Oracle(Translator):
            def _generate(self, image):
                return target.copy()

            def _generate_batch(self, images):
                return [target.copy() for _ in images]

        return _Oracle(torch.nn.Identity(), 1, torch.device("cpu"))


def identity_translator():
    from mosaicgan.models.translator import Translator

    return Translator(torch.nn.Identity(), 1, torch.device("cpu"))


def test_translate_keeps_a_face_the_input_showed():
    face = photo("astronaut")
    assert screen_translation(face, face) == []
    result = identity_translator().translate(face)
    assert result.image is not None and not result.refused


def test_translate_refuses_a_face_behind_a_mosaic():
    clean = photo("astronaut")
    mosaiced = mosaic_image(clean, box_mask(512, 512, ASTRONAUT_FACE), 12)
    # A "mosaiced face | clean face" model: the face was not shown, so it is refused.
    result = OracleTranslator(clean).translate(mosaiced)
    assert result.image is None and result.refused == ["face"]
    # The identity on the mosaiced face: the detector sees a face in the mosaic, and a
    # face inside a mosaic was not shown either: refused too (erring on caution).
    assert identity_translator().translate(mosaiced).refused == ["face"]
    # A face moved elsewhere does not match the input's face.
    moved = np.roll(clean, 200, axis=1)
    assert screen_translation(clean, moved) == ["face"]


def test_translate_files_refuses_and_names_it(tmp_path, tiny_translation_model, monkeypatch):
    """The real detector on a real face: a model (loaded from its run, as the job loads
    it) that turns the mosaiced astronaut into the clean one is refused, the file named,
    nothing written. (It used to accept whatever the tiny model made, a face or not, so
    it passed with the gate removed.)"""
    from mosaicgan.api import translate_files
    from mosaicgan.models.translator import Translator

    clean = photo("astronaut")
    monkeypatch.setattr(Translator, "_generate", lambda self, image: clean.copy())
    monkeypatch.setattr(Translator, "_generate_batch",
                        lambda self, images: [clean.copy() for _ in images])
    write_image(tmp_path / "in" / "a.png", mosaic_image(clean, box_mask(512, 512,
                                                                        ASTRONAUT_FACE), 8))
    lines = []
    report = translate_files([tmp_path / "in"], tmp_path / "out",
                             model=tiny_translation_model, log=lines.append)
    assert [(Path(p).name, "face" in why) for p, why in report.skipped] == [("a.png", True)]
    assert not report.written
    assert not any(p.is_file() for p in (tmp_path / "out").rglob("*"))
    assert any("a.png" in line and "face" in line for line in lines)


# --- pictures the project draws ---------------------------------------------------------

def test_training_leaves_out_mosaiced_face_to_clean_face_pairs(tmp_path):
    """Training on "mosaiced face | clean face" pairs (the real detector): the target shows
    a face its input hid, so the pair is left out and said so; nothing is left to train
    on. (It used to train without a word: the exported weights would unmosaic faces.)"""
    clean = cv2.resize(photo("astronaut")[40:296, 120:376], (64, 64),
                       interpolation=cv2.INTER_AREA)
    mosaiced = mosaic_image(clean, np.ones((64, 64), bool), 8)
    write_image(tmp_path / "ab" / "train" / "1.png", np.concatenate([mosaiced, clean], 1))
    lines = []
    with pytest.raises(InputError, match="no training images left"):
        train_pix2pix(tmp_path / "ab", tmp_path / "run", config={"size": 64, "ngf": 8,
                                                                 "ndf": 8},
                      log=lines.append,
                      loop=LoopOptions(steps=1, progress=False, sample_every=1,
                                       precision="fp32"))
    assert any(line.startswith("skipped") and "1.png: face" in line for line in lines)
    assert "safety screen: 1 pair(s) left out: the target shows a face its input hides" \
        in lines


def test_eval_sheets_withhold_the_face_under_the_mosaic(tmp_path, tiny_model):
    from mosaicgan.jobs.evaluate import evaluate_restorer
    from mosaicgan.sheets import WITHHELD_GREY

    write_image(tmp_path / "photos" / "astronaut.png", photo("astronaut"))
    face = box_mask(512, 512, ASTRONAUT_FACE)
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    report = evaluate_restorer(tmp_path / "photos", tmp_path / "report", restorer, blocks=[8],
                      where="cam", region_fn=lambda image: face, log=lambda _: None,
                      progress=False)
    assert report.rows
    sheet = read_image(tmp_path / "report" / "grid.png")
    # One row (one sample); its last tile is the target: her clean face, withheld.
    last = sheet[30:-10, -150:]
    assert (np.abs(last.astype(int) - WITHHELD_GREY) <= 2).all(axis=2).mean() > 0.8


def test_screened_panels_keep_what_the_input_showed(no_detections):
    from mosaicgan.sheets import screened, screened_rows, withheld

    image = photo("coffee")
    assert screened(image, image) is image
    assert screened_rows([[image, image]]) == [[image, image]]
    grey = withheld(40, 200, ["face"])
    assert grey.shape == (40, 200, 3) and (grey == 128).mean() > 0.8


# --- no switch --------------------------------------------------------------------------

def test_nothing_public_takes_a_detector_or_returns_ungated_pixels():
    import importlib
    import pkgutil

    import mosaicgan

    modules = [importlib.import_module(m.name) for m in
               pkgutil.walk_packages(mosaicgan.__path__, "mosaicgan.")
               if not m.name.startswith(("mosaicgan.detect", "mosaicgan.__main__"))]
    checked = 0
    for module in modules:
        for name, obj in vars(module).items():
            if name.startswith("_") or not callable(obj):
                continue
            members = [obj]
            if inspect.isclass(obj):
                members += [m for n, m in vars(obj).items()
                            if not n.startswith("_") and callable(m)]
            for member in members:
                try:
                    params = inspect.signature(member).parameters
                except (TypeError, ValueError):
                    continue
                checked += 1
                assert not any("detector" in p.lower() for p in params), (module, name)
    assert checked > 200
    from mosaicgan.models import restorer
    from mosaicgan.models.translator import Translator

    for cls, names in ((Restorer, ("generate", "generate_batch", "paste_region")),
                       (Translator, ("generate", "generate_batch"))):
        assert not any(hasattr(cls, n) for n in names), cls
    assert not hasattr(restorer, "paste_region")
