"""Nothing lost: an output never replaces a file the command did not write, two inputs never
share an output, what exists is kept unless asked, --resume knows what it wrote, and every
file a folder search leaves out gets a line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mosaicgan.cli import main
from mosaicgan.imageio import read_image, write_image
from mosaicgan.mosaic import mosaic_image
from mosaicgan.regions.masks import box_mask
from mosaicgan.walk import RECORD_NAME

from .conftest import photo


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def names(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and p.name != RECORD_NAME)


@pytest.fixture
def cats(tmp_path) -> Path:
    """A folder holding a mosaiced cat as JPEG and the clean cat as PNG: same stem."""
    folder = tmp_path / "c"
    image = photo("chelsea")
    mosaiced = mosaic_image(image, box_mask(300, 451, (100, 60, 160, 120)), 12)
    write_image(folder / "cat.jpg", mosaiced)
    write_image(folder / "cat.png", image)
    return folder


@pytest.mark.parametrize("command", [["find-mosaic"], ["restore"]])
def test_writing_into_the_input_folder_replaces_nothing(cats, command, no_detections):
    before = snapshot(cats)
    result = run(command[0], cats / "cat.jpg", "-o", cats, *command[1:])
    assert result.exit_code == 0, result.output
    for path, data in before.items():
        assert Path(path).read_bytes() == data  # the photo cat.png is still the photo
    written = {"find-mosaic": "cat_mask.png", "restore": "cat_restored.jpg"}[command[0]]
    assert (cats / written).is_file()


def test_two_inputs_with_one_output_are_named_and_the_rest_goes_on(cats, tmp_path):
    write_image(cats / "dog.png", photo("coffee"))
    result = run("find-mosaic", cats, "-o", tmp_path / "masks")
    assert result.exit_code == 2
    (clash,) = [line for line in result.output.splitlines() if "also the output of" in line]
    assert "cat.png" in clash and "cat.jpg" in clash and "cat_mask.png" in clash
    assert names(tmp_path / "masks") == ["cat_mask.png", "dog_mask.png"]


def test_regions_in_the_output_folder_do_not_overwrite_the_output(tmp_path, no_detections):
    write_image(tmp_path / "in" / "cat.png", photo("chelsea"))
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--box", "10,10,80,60",
                 "--regions", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert names(tmp_path / "out") == ["cat_anonymised.png", "cat_regions.json",
                                       "cat_regions.png"]
    assert read_image(tmp_path / "out" / "cat_anonymised.png").std() > 30  # a photo, not a mask


def test_an_existing_output_is_kept_unless_overwrite(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo("coffee"))
    out = tmp_path / "out" / "a_anonymised.png"
    out.parent.mkdir()
    out.write_bytes(b"a file of the user's")
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--box", "0,0,50,50")
    assert result.exit_code == 0 and "0 written, 1 skipped" in result.output
    assert "a_anonymised.png exists; kept (--overwrite replaces it" in result.output
    assert out.read_bytes() == b"a file of the user's"
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--box", "0,0,50,50",
                 "--resume")
    assert out.read_bytes() == b"a file of the user's"  # not mosaicgan's: resume keeps it
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--box", "0,0,50,50",
                 "--overwrite")
    assert result.exit_code == 0 and "1 written" in result.output
    assert read_image(out).shape == (400, 600, 3)


def test_resume_skips_what_it_wrote_and_redoes_what_changed(tmp_path):
    folder = tmp_path / "in"
    for name in ("a", "b", "c"):
        write_image(folder / f"{name}.png", photo("coffee"))
    args = ("mosaic", folder, "-o", tmp_path / "out", "--box", "0,0,50,50")
    assert "3 written" in run(*args).output
    time.sleep(0.01)
    write_image(folder / "b.png", photo("chelsea"))  # b's input changed
    (tmp_path / "out" / "c_anonymised.png").write_bytes(b"edited by the user")
    result = run(*args, "--resume")
    assert result.exit_code == 0, result.output
    assert "1 written, 1 skipped" in result.output  # b redone; c no longer ours: kept
    assert "1 input(s) already done" in result.output  # a
    assert read_image(tmp_path / "out" / "b_anonymised.png").shape == (300, 451, 3)
    assert (tmp_path / "out" / "c_anonymised.png").read_bytes() == b"edited by the user"


def test_missing_and_duplicated_paths_are_one_line_each(tmp_path):
    write_image(tmp_path / "a.png", photo("coffee"))
    result = run("mosaic", tmp_path / "a.png", tmp_path / "nope.png", tmp_path / "a.png",
                 "-o", tmp_path / "out", "--box", "0,0,50,50")
    assert result.exit_code == 2
    assert "1 written, 1 failed" in result.output
    assert f"error: {tmp_path / 'nope.png'}: no such file or folder" in result.output
    assert "given twice" in result.output


def test_an_output_folder_inside_the_input_folder_is_never_an_input(tmp_path):
    nest = tmp_path / "nest"
    write_image(nest / "a.png", photo("coffee"))
    for _ in range(2):
        result = run("mosaic", nest, "-o", nest / "out", "--box", "0,0,50,50", "--overwrite")
        assert result.exit_code == 0, result.output
        assert "1 written" in result.output
    assert names(nest) == ["a.png", "out/a_anonymised.png"]  # no out/out/
    assert "an output folder inside the input folder" in result.output
    # Written into the input folder itself: the outputs are listed in the record, not taken.
    run("mosaic", nest, "-o", nest, "--box", "0,0,50,50")
    result = run("mosaic", nest, "-o", nest, "--box", "0,0,50,50", "--resume")
    assert "a_anonymised_anonymised" not in str(names(nest))
    assert "that mosaicgan wrote" in result.output


def test_every_file_a_folder_search_leaves_out_gets_a_line(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "a.png", photo("coffee"))
    (folder / "notes.txt").write_text("a shopping list")
    (folder / ".DS_Store").write_bytes(b"\0")
    result = run("mosaic", folder, "-o", tmp_path / "out", "--box", "0,0,50,50")
    assert result.exit_code == 0
    assert "notes.txt: skipped, not a kind of file this command reads (.txt)" in result.output
    assert "1 hidden file(s)" in result.output


def test_sigterm_leaves_no_partial_files(tmp_path):
    from .test_video import make_clip

    clip = make_clip(tmp_path / "long.mp4", n=400, width=320, height=240)
    before = clip.read_bytes()
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mosaicgan", "mosaic", str(clip), "-o",
                             str(out), "--box", "0,0,64,64", "--preset", "veryslow"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not list(out.glob(".*.part")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.05)
    assert list(out.glob(".*.part")), "the job never started writing"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(60) == 130
    assert [p.name for p in out.iterdir() if p.name.endswith(".part")] == []
    assert not (out / "long_anonymised.mp4").exists()
    assert clip.read_bytes() == before
