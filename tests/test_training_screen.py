"""Issue 23, holes 2 and 3: training never learns to reveal a face, and no file in a folder
the user hands in stands in for the screen. Real faces (the astronaut) with the real
detector, or injected detections; never nudity (only injected)."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from mosaicgan import safety, screening
from mosaicgan.api import train_cyclegan, train_pix2pix
from mosaicgan.data.paired import PairedDataset
from mosaicgan.detect.base import Detection
from mosaicgan.errors import InputError
from mosaicgan.imageio import encode_jpeg, write_image
from mosaicgan.mosaic import blur_array, mosaic_image
from mosaicgan.regions.masks import box_mask
from mosaicgan.train.loop import LoopOptions

from .conftest import ASTRONAUT_FACE, FakeDetector, photo

EXPOSED = "FEMALE_BREAST_EXPOSED"
TINY = {"size": 32, "ngf": 8, "ndf": 8}


def one_step() -> LoopOptions:
    return LoopOptions(steps=1, progress=False, sample_every=0, precision="fp32")


def head(size: int = 128) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut's head and shoulders at ``size`` px, and her face box there."""
    crop = photo("astronaut")[20:340, 60:380]  # 320 px around her face
    s = size / 320
    x, y, w, h = ASTRONAUT_FACE
    box = (round((x - 60) * s), round((y - 20) * s), round(w * s), round(h * s))
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA), box


def aligned(folder, name, a, b):
    write_image(folder / "train" / f"{name}.png", np.concatenate([a, b], 1))


# --- hole 2: pairs that reveal a face are left out -------------------------------------

def test_pairs_that_unhide_a_face_are_left_out_and_said(tmp_path):
    """Hand-made "mosaiced face -> clean face" and "blurred face -> clean face" pairs (the
    real detector): left out, named, counted in one line; the pair that keeps the face as
    it was and a face-free pair train."""
    clean, box = head()
    mask = box_mask(128, 128, box)
    root = tmp_path / "ab"
    aligned(root, "mosaic", mosaic_image(clean, mask), clean)
    aligned(root, "blur", blur_array(clean, mask), clean)
    aligned(root, "kept", encode_jpeg(clean, 80), clean)
    aligned(root, "cups", cv2.resize(photo("coffee"), (128, 128)),
            cv2.resize(photo("chelsea"), (128, 128)))
    lines = []
    train_pix2pix(root, tmp_path / "run", config=TINY, log=lines.append, loop=one_step())
    skipped = sorted(line.split("/")[-1] for line in lines if line.startswith("skipped"))
    assert skipped == ["blur.png: face (safety screen)", "mosaic.png: face (safety screen)"]
    assert "safety screen: 2 pair(s) left out: the target shows a face its input hides" \
        in lines
    assert any("2 training items" in line for line in lines)
    record = json.loads((tmp_path / "run" / "screening.json").read_text())
    assert record["train"]["counts"] == {"face": 2}


def test_a_restoration_pair_with_a_face_under_its_mask_is_left_out(tmp_path):
    """A hand-written pair folder (not made by ``pairs``, which would have refused it): the
    face under the mask is seen in the target and the pair is left out."""
    clean, box = head()
    mask = box_mask(128, 128, box)
    folder = tmp_path / "pairs" / "train"
    write_image(folder / "c.png", clean)
    write_image(folder / "m.png", mosaic_image(clean, mask))
    write_image(folder / "k.png", mask.astype(np.uint8) * 255)
    (folder / "pairs.jsonl").write_text(json.dumps({"clean": "c.png", "mosaic": "m.png",
                                                    "mask": "k.png"}) + "\n")
    lines = []
    with pytest.raises(InputError, match="no training images left"):
        train_pix2pix(tmp_path / "pairs", tmp_path / "run", config=TINY, log=lines.append,
                      loop=one_step())
    assert "safety screen: 1 pair(s) left out: the target shows a face its input hides" \
        in lines


def test_unpaired_faces_are_left_out_when_the_other_domain_hides_them(tmp_path):
    """CycleGAN: domain A holds a mosaiced and a blurred astronaut, domain B her clean
    face and a cat: B's face is left out (B -> A is fine, A -> B would unmosaic), the cat
    and A's images stay."""
    clean, box = head(256)
    mask = box_mask(256, 256, box)
    write_image(tmp_path / "trainA" / "mosaic.png", mosaic_image(clean, mask))
    write_image(tmp_path / "trainA" / "blur.png", blur_array(clean, mask))
    write_image(tmp_path / "trainB" / "face.png", clean)
    write_image(tmp_path / "trainB" / "cat.png", cv2.resize(photo("chelsea"), (256, 256)))
    lines = []
    result = train_cyclegan(tmp_path, tmp_path / "run", config=TINY, log=lines.append,
                            loop=one_step())
    skipped = [line for line in lines if line.startswith("skipped")]
    assert len(skipped) == 1 and "trainB/face.png: face (domain A hides faces" in skipped[0]
    assert any(line.startswith("safety screen: 1 image(s) left out: face (domain A hides")
               for line in lines)
    assert result is not None


def test_screen_training_pair_keeps_a_visible_face():
    clean, box = head()
    assert safety.screen_training_pair(clean, clean) == []
    assert safety.screen_training_pair(mosaic_image(clean, box_mask(128, 128, box)),
                                       clean) == ["face"]


# --- hole 3: no verdict is read from a folder the user hands in ------------------------

class Versioned(FakeDetector):
    """A stand-in detector with a version, so its verdicts are cached like the shipped one's."""

    def __init__(self, detections, version: str):
        super().__init__(detections)
        self.version = version


NUDE = [Detection(EXPOSED, 0.9, (0, 0, 4, 4))]


def forge_old_cache(dataset_root, run_dir):
    """What today's trust-by-path cache accepted: every file 'screened clean'."""
    known = {}
    for path in sorted(dataset_root.rglob("*.png")):
        stat = path.stat()
        known[f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"] = []
    run_dir.mkdir(parents=True)
    (run_dir / "screening.json").write_text(json.dumps(known))


def test_a_hand_written_screening_file_does_not_stop_the_screen(tiny_pairs, tmp_path, inject):
    run = tmp_path / "run"
    forge_old_cache(tiny_pairs, run)
    # A forged entry under the new cache's name, in the run folder, is not read either.
    (run / "screening").mkdir()
    (run / "screening" / "forged.json").write_text("{}")
    inject(Versioned(NUDE, "forged"))
    with pytest.raises(InputError, match="no training images left"):
        train_pix2pix(tiny_pairs, run, config=TINY, log=lambda _: None, loop=one_step())


def test_verdicts_are_cached_by_content_and_versions_in_the_cache_folder(
        tiny_pairs, tmp_path, inject, monkeypatch):
    cache_home = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    data = PairedDataset(tiny_pairs, "train", 32)
    n = len(data.items)
    first = inject(Versioned(NUDE, "v1"))
    assert len(screening.screen_dataset(data, lambda _: None)["left_out"]) == n
    assert first.calls == 2 * n  # input and target of every pair
    assert (cache_home / "mosaicgan" / "screening" / "v1.json").is_file()
    # The same detector version: the verdicts come from the cache, not the detector.
    again = inject(Versioned([], "v1"))
    assert len(screening.screen_dataset(PairedDataset(tiny_pairs, "train", 32),
                                        lambda _: None)["left_out"]) == n
    assert again.calls == 0
    # Another detector version, or another rule version: screened again.
    other = inject(Versioned([], "v2"))
    assert screening.screen_dataset(PairedDataset(tiny_pairs, "train", 32),
                                    lambda _: None)["left_out"] == []
    assert other.calls == 2 * n
    monkeypatch.setattr(screening, "RULE_VERSION", screening.RULE_VERSION + 1)
    newer = inject(Versioned([], "v1"))
    assert screening.screen_dataset(PairedDataset(tiny_pairs, "train", 32),
                                    lambda _: None)["left_out"] == []
    assert newer.calls == 2 * n


def test_a_changed_file_is_screened_again(tmp_path, inject, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "ab"
    aligned(root, "1", photo("coffee")[:32, :32], photo("coffee")[32:64, :32])
    inject(Versioned([], "v1"))
    assert screening.screen_dataset(PairedDataset(root), lambda _: None)["left_out"] == []
    path = root / "train" / "1.png"
    stat = path.stat()
    aligned(root, "1", photo("chelsea")[:32, :32], photo("chelsea")[32:64, :32])
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: content decides
    detector = inject(Versioned([], "v1"))
    screening.screen_dataset(PairedDataset(root), lambda _: None)
    assert detector.calls == 2


def test_the_shipped_detector_version_follows_its_thresholds(monkeypatch):
    before = screening._shipped_version()
    screening._shipped_version.cache_clear()
    monkeypatch.setattr(safety, "SHOWN_FACE_SCORE", safety.SHOWN_FACE_SCORE + 0.1)
    try:
        assert screening._shipped_version() != before
    finally:
        screening._shipped_version.cache_clear()


def test_stand_ins_without_a_version_cache_nothing(tmp_path, inject, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "ab"
    aligned(root, "1", photo("coffee")[:32, :32], photo("coffee")[32:64, :32])
    inject(FakeDetector())
    screening.screen_dataset(PairedDataset(root), lambda _: None)
    assert not (tmp_path / "cache").exists()
