"""Videos through the command line: mosaic, restore and translate accept them."""

import numpy as np
import pytest
from click.testing import CliRunner

from mosaicgan.cli import main

from .test_video import audio_packets, cells, frames_of, make_clip


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    make_clip(folder / "a.mp4", n=8)
    return folder


def test_mosaic_a_folder_of_videos_keeps_names_and_audio(clips, tmp_path):
    result = run("mosaic", clips, "-o", tmp_path / "out", "--box", "8,8,48,32", "--block", "8",
                 "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    out = tmp_path / "out" / "a_anonymised.mp4"
    frames, source = frames_of(out), frames_of(clips / "a.mp4")
    assert len(frames) == len(source) == 8
    box = (8, 8, 48, 32)
    flat_out = cells(frames, box, 8).std(axis=2).mean()
    flat_in = cells(source, box, 8).std(axis=2).mean()
    assert flat_out < 0.2 * flat_in  # pixelated (4:2:0 chroma blurs cell edges a little)
    assert audio_packets(out) == audio_packets(clips / "a.mp4")


def test_restore_and_translate_videos(clips, tmp_path, tiny_model, tiny_translation_model):
    from mosaicgan.imageio import write_image
    from mosaicgan.regions.masks import box_mask

    mask = box_mask(64, 96, (16, 16, 32, 24))
    write_image(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    result = run("restore", clips / "a.mp4", "-o", tmp_path / "r", "--model", tiny_model,
                 "--mask", tmp_path / "mask.png", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert len(frames_of(tmp_path / "r" / "a_restored.mp4")) == 8
    result = run("translate", clips / "a.mp4", "-o", tmp_path / "t", "--model",
                 tiny_translation_model, "--duration", "0.2", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert 0 < len(frames_of(tmp_path / "t" / "a_translated.mp4")) < 8


def test_a_broken_video_in_a_batch(clips, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes((clips / "a.mp4").read_bytes())
    (folder / "broken.mp4").write_bytes((clips / "a.mp4").read_bytes()[:300])
    result = run("mosaic", folder, "-o", tmp_path / "out", "--box", "0,0,8,8",
                 "--preset", "ultrafast")
    assert result.exit_code == 2 and "1 written, 1 failed" in result.output
    assert "broken.mp4" in result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        ".mosaicgan-written.jsonl", "a_anonymised.mp4"]  # no partial file of the broken one


def test_regions_of_a_video_are_written_for_review(clips, tmp_path):
    import json

    from mosaicgan.imageio import read_mask

    result = run("mosaic", clips / "a.mp4", "-o", tmp_path / "out", "--box", "8,8,48,32",
                 "--regions", tmp_path / "r", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    regions = json.loads((tmp_path / "r" / "a_regions.json").read_text())
    assert regions["width"] == 96 and regions["height"] == 64 and regions["frames"] == 8
    assert regions["regions"] == [{"track": 0, "frames": [0, 7], "box": [8, 8, 48, 32],
                                   "count": 8}]
    mask = read_mask(tmp_path / "r" / "a_regions.png")
    assert mask[8:40, 8:56].all() and mask.sum() == 48 * 32


def test_detect_every_finds_on_every_nth_frame_and_hides_every_frame(clips, tmp_path, inject):
    """--detect-every 3 on an 8-frame clip: the detector runs on frames 0, 3 and 6 and on
    the last one (and where the drifting pattern changed much since the last detection),
    not on all eight, and the face it sees is hidden in all eight (solid: black, up to the
    codec's loss)."""
    from mosaicgan.detect.base import Detection

    from .conftest import FakeDetector

    face = (24, 16, 32, 32)
    detector = inject(FakeDetector([Detection("FACE_FEMALE", 0.9, face)]))
    result = run("mosaic", clips, "-o", tmp_path / "out", "--where", "face", "--style", "solid",
                 "--detect-every", "3", "--preset", "ultrafast")
    assert result.exit_code == 0, result.output
    assert 4 <= detector.calls < 8
    frames = frames_of(tmp_path / "out" / "a_anonymised.mp4")
    x, y, w, h = face
    assert len(frames) == 8 and frames[:, y:y + h, x:x + w].mean(axis=(1, 2, 3)).max() < 3
    result = CliRunner().invoke(main, ["mosaic", str(clips), "-o", str(tmp_path / "o2"),
                                       "--box", "1,1,9,9", "--detect-every", "2"])
    assert result.exit_code == 2 and "--detect-every is for regions found" in result.output
