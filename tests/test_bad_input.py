"""Every expected failure is one line naming the file and the problem; a batch goes on with
the other files, exits 2 with a count, and never modifies an input."""

from __future__ import annotations

import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from mosaicgan.cli import main
from mosaicgan.imageio import read_image, write_image
from mosaicgan.jobs.batch import BatchReport, Plan, Target, run_batch
from mosaicgan.models.shipped import default_model
from mosaicgan.naming import output_name
from mosaicgan.regions.masks import box_mask

from .conftest import photo


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def errors(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("error:")]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its data is one empty row)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 4)) + chunk(b"IEND", b""))


@pytest.fixture
def batch(tmp_path) -> Path:
    """Two good photos and every kind of broken file, in one folder."""
    folder = tmp_path / "in"
    write_image(folder / "a_coffee.png", photo("coffee"))
    write_image(folder / "z_cat.png", photo("chelsea"))
    (folder / "bomb.png").write_bytes(png_claiming(30000, 30000))
    good = (folder / "a_coffee.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 3])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("not an image at all\n")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("command,suffix", [
    (["mosaic", "--box", "10,10,50,50"], "_anonymised.png"),
    (["find-mosaic"], "_mask.png"),
    (["restore"], "_restored.png"),
])
def test_a_batch_with_broken_files_goes_on(batch, tmp_path, command, suffix, no_detections):
    before = snapshot(batch)
    result = run(command[0], batch, "-o", tmp_path / "out", *command[1:])
    assert result.exit_code == 2, result.output
    lines = errors(result)
    assert len(lines) == 5  # one per broken file, and the count
    for name in ("bomb.png", "truncated.png", "empty.png", "text.png"):
        (line,) = [x for x in lines if name in x]
        assert "Traceback" not in line
    assert any("30000x30000 is 900,000,000 pixels" in x and "--max-pixels" in x for x in lines)
    assert lines[-1] == "error: 4 input(s) failed (each named above)"
    assert (tmp_path / "out" / f"a_coffee{suffix}").is_file()
    assert (tmp_path / "out" / f"z_cat{suffix}").is_file()  # after the bomb: still written
    assert snapshot(batch) == before  # inputs untouched


def test_the_pixel_limit_can_be_raised(tmp_path):
    write_image(tmp_path / "in" / "c.png", photo("coffee"))
    result = run("--max-pixels", 1000, "mosaic", tmp_path / "in", "-o", tmp_path / "o",
                 "--box", "0,0,10,10")
    assert result.exit_code == 2 and "more than the limit of 1,000" in result.output
    result = run("--max-pixels", 10**9, "mosaic", tmp_path / "in", "-o", tmp_path / "o",
                 "--box", "0,0,10,10")
    assert result.exit_code == 0, result.output
    assert run("find-mosaic", tmp_path / "in", "-o", tmp_path / "f").exit_code == 0  # default


@pytest.mark.parametrize("args,message", [
    (["pairs", "{photos}", "-o", "{out}", "--block", "0-4"], "block range 0-4"),
    (["eval", "{photos}", "-o", "{out}", "--blocks", "0"], "blocks must be sizes"),
    (["mosaic", "{photos}", "-o", "{out}"], "give exactly one of --box, --mask or --where"),
    (["mosaic", "{photos}/c.png", "{photos}/c_anonymised.png", "-o", "{photos}", "--box",
      "0,0,9,9"], "is an input"),
    (["mosaic", "{empty}", "-o", "{out}", "--box", "0,0,9,9"], "holds no images"),
])
def test_bad_arguments_are_one_line(tmp_path, args, message, no_detections):
    photos, empty = tmp_path / "photos", tmp_path / "empty"
    write_image(photos / "c.png", photo("coffee"))
    write_image(photos / "c_anonymised.png", photo("coffee"))
    empty.mkdir()
    before = snapshot(photos)
    filled = [a.format(photos=photos, out=tmp_path / "out", empty=empty) for a in args]
    result = run(*filled)
    assert result.exit_code == 2, result.output
    line = (errors(result) or [result.output.strip().splitlines()[-1]])[0]
    assert message in line, result.output
    assert {k: v for k, v in snapshot(photos).items() if k in before} == before  # inputs kept


def shipped_copy(tmp_path: Path, change) -> Path:
    src = default_model()
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(src.with_suffix(".safetensors"), folder / "restore.safetensors")
    meta = json.loads(src.read_text())
    change(meta)
    (folder / "restore.json").write_text(json.dumps(meta))
    return folder / "restore.json"


@pytest.mark.parametrize("change,message", [
    (lambda m: m["config"].update(wobble=3), "unknown pix2pix config keys: wobble"),
    (lambda m: m.pop("tensors"), "says nothing of its 'tensors'"),
    (lambda m: m["config"].update(size=300), "size must be a power of two"),
])
def test_broken_model_descriptions_are_one_line(tmp_path, change, message):
    model = shipped_copy(tmp_path, change)
    write_image(tmp_path / "in" / "c.png", photo("coffee"))
    result = run("restore", tmp_path / "in", "-o", tmp_path / "out", "--model", model)
    assert result.exit_code == 2
    (line,) = errors(result)
    assert str(model) in line and message in line


def test_an_output_that_cannot_be_written_is_one_line(tmp_path, batch):
    blocker = tmp_path / "out"
    blocker.write_text("a file where the output folder should be")
    result = run("mosaic", batch / "a_coffee.png", batch / "z_cat.png", "-o", blocker,
                 "--box", "0,0,9,9")
    assert result.exit_code == 2
    lines = errors(result)
    assert len(lines) == 3 and all("cannot write" in x for x in lines[:2])


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder(tmp_path, batch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = run("mosaic", batch / "a_coffee.png", "-o", out, "--box", "0,0,9,9")
    finally:
        out.chmod(0o755)
    assert result.exit_code == 2 and "Permission denied" in result.output


def test_the_batch_loop_turns_library_errors_into_lines(tmp_path):
    plan = Plan(targets=[Target(tmp_path / f"{i}.png", tmp_path / f"out{i}.png")
                         for i in range(3)])
    lines: list[str] = []

    def job(src: Path, out: Path) -> None:
        if src.name == "0.png":
            cv2.resize(np.zeros((0, 0, 3), np.uint8), (5, 5))  # an OpenCV error
        if src.name == "1.png":
            raise OSError(28, "No space left on device")

    report = run_batch(plan, BatchReport(), lines.append, job)
    assert [p.name for p in report.written] == ["out2.png"]
    assert len(report.failed) == 2 and len(lines) == 2
    assert "0.png: " in lines[0] and "\n" not in lines[0]
    assert "cannot write" in lines[1] and "No space left on device" in lines[1]


# --- what the image files hold ----------------------------------------------------------

def mosaic_one(tmp_path: Path, name: str, image: Image.Image):
    src = tmp_path / "in" / name
    src.parent.mkdir(exist_ok=True)
    image.save(src)
    result = run("mosaic", src, "-o", tmp_path / "out", "--box", "100,100,120,80",
                 "--block", "10")
    return result, tmp_path / "out" / output_name(name, "mosaic")


def test_rgba_keeps_its_alpha_and_its_pixels_outside(tmp_path):
    rgb = photo("coffee")
    alpha = np.tile(np.linspace(0, 255, 600).astype(np.uint8), (400, 1))
    result, out = mosaic_one(tmp_path, "a.png", Image.fromarray(np.dstack([rgb, alpha])))
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.mode == "RGBA"
        got = np.array(im)
    np.testing.assert_array_equal(got[..., 3], alpha)
    outside = ~box_mask(400, 600, (100, 100, 120, 80))
    np.testing.assert_array_equal(got[..., :3][outside], rgb[outside])
    assert (got[100:110, 100:110, :3] == got[100, 100, :3]).all()  # mosaiced inside


def test_grey_stays_grey_and_palette_keeps_its_colours(tmp_path):
    grey = cv2.cvtColor(photo("coffee"), cv2.COLOR_RGB2GRAY)
    result, out = mosaic_one(tmp_path, "g.png", Image.fromarray(grey))
    assert result.exit_code == 0
    with Image.open(out) as im:
        assert im.mode == "L"
        got = np.array(im)
    outside = ~box_mask(400, 600, (100, 100, 120, 80))
    np.testing.assert_array_equal(got[outside], grey[outside])
    palette = Image.fromarray(photo("coffee")).quantize(64)
    result, out = mosaic_one(tmp_path, "p.png", palette)
    assert result.exit_code == 0
    np.testing.assert_array_equal(read_image(out)[outside],
                                  np.array(palette.convert("RGB"))[outside])


def test_16_bit_images_are_refused_in_one_line(tmp_path):
    deep = (np.random.default_rng(0).random((60, 80, 3)) * 65535).astype(np.uint16)
    src = tmp_path / "in" / "deep.png"
    src.parent.mkdir()
    cv2.imwrite(str(src), deep)
    before = src.read_bytes()
    result = run("mosaic", src, "-o", tmp_path / "out", "--box", "0,0,10,10")
    assert result.exit_code == 2
    assert "deep.png: a 16-bit image" in errors(result)[0]
    assert src.read_bytes() == before
    assert not (tmp_path / "out" / "deep_anonymised.png").exists()
