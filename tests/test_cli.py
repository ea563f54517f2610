"""The command line: exit codes, one-line errors naming the file, batches that go on."""

import numpy as np
import pytest
from click.testing import CliRunner

from mosaicgan.cli import main
from mosaicgan.imageio import read_image, write_image
from mosaicgan.regions.masks import box_mask

from .conftest import photo


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "in"
    write_image(folder / "coffee.png", photo("coffee"))
    write_image(folder / "sub" / "cat.jpg", photo("chelsea"))
    return folder


def test_mosaic_box_keeps_names_and_only_touches_the_box(images, tmp_path):
    result = run("mosaic", images, "-o", tmp_path / "out", "--box", "10,20,100,80", "--block", "10")
    assert result.exit_code == 0, result.output
    assert "2 written" in result.output
    out = read_image(tmp_path / "out" / "coffee_anonymised.png")
    mask = box_mask(400, 600, (10, 20, 100, 80))
    np.testing.assert_array_equal(out[~mask], photo("coffee")[~mask])
    cell = out[20:30, 10:20].reshape(-1, 3)
    assert (cell == cell[0]).all()
    assert (tmp_path / "out" / "sub" / "cat_anonymised.jpg").is_file()


def test_mosaic_with_mask_and_random(images, tmp_path):
    write_image(tmp_path / "m.png", box_mask(400, 600, (0, 0, 50, 50)).astype(np.uint8) * 255)
    result = run("mosaic", images / "coffee.png", "-o", tmp_path / "o1", "--mask",
                 tmp_path / "m.png")
    assert result.exit_code == 0
    result = run("mosaic", images / "sub" / "cat.jpg", "-o", tmp_path / "o1", "--mask",
                 tmp_path / "m.png")
    assert result.exit_code == 2
    assert "m.png: mask is 600x400, the image is 451x300" in result.output
    for out in ("r1", "r2"):
        result = run("mosaic", images / "coffee.png", "-o", tmp_path / out, "--where", "random",
                     "--seed", 3)
        assert result.exit_code == 0
    r1, r2 = (read_image(tmp_path / out / "coffee_anonymised.png") for out in ("r1", "r2"))
    assert np.array_equal(r1, r2) and not np.array_equal(r1, photo("coffee"))


def test_region_options_are_exclusive(images, tmp_path):
    result = run("mosaic", images, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "exactly one of --box, --mask or --where" in result.output
    result = run("mosaic", images, "-o", tmp_path / "o", "--box", "1,2,3")
    assert result.exit_code == 2 and "X,Y,W,H" in result.output


def test_bad_file_in_a_batch_is_named_and_the_rest_goes_on(images, tmp_path):
    (images / "broken.png").write_bytes(b"\x89PNG garbage")
    (images / "notes.jpg").write_text("not an image")
    result = run("mosaic", images, "-o", tmp_path / "out", "--box", "0,0,20,20")
    assert result.exit_code == 2
    assert "2 written, 2 failed" in result.output
    assert "broken.png:" in result.output and "notes.jpg:" in result.output
    assert (tmp_path / "out" / "coffee_anonymised.png").is_file()
    assert not (tmp_path / "out" / "broken_anonymised.png").exists()


def test_box_outside_the_image(images, tmp_path):
    result = run("mosaic", images / "coffee.png", "-o", tmp_path / "o", "--box", "700,0,10,10")
    assert result.exit_code == 2
    assert "coffee.png: box (700, 0, 10, 10) lies outside" in result.output


def test_fatal_errors_exit_2_with_one_line(tmp_path, images):
    (tmp_path / "empty").mkdir()
    result = run("mosaic", tmp_path / "empty", "-o", tmp_path / "o", "--where", "random")
    assert result.exit_code == 2
    first = result.output.strip().splitlines()[0]
    assert first.startswith(f"error: {tmp_path / 'empty'}: folder holds no images or videos (")
    write_image(images / "coffee_anonymised.png", photo("coffee"))
    result = run("mosaic", images / "coffee.png", images / "coffee_anonymised.png", "-o",
                 images, "--where", "random")
    assert result.exit_code == 2 and "coffee_anonymised.png is an input" in result.output
    result = run("restore", images / "coffee.png", "-o", tmp_path / "o", "--model", tmp_path / "x")
    assert result.exit_code == 2 and "no such model" in result.output
    result = run("restore", images / "coffee.png", "-o", tmp_path / "o", "--model", tmp_path)
    assert result.exit_code == 2 and "not a mosaicgan run or model" in result.output


def test_restore_cli_with_mask(tiny_model, images, tmp_path):
    mask = box_mask(400, 600, (100, 100, 64, 64))
    write_image(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    result = run("restore", images / "coffee.png", "-o", tmp_path / "out", "--model", tiny_model,
                 "--mask", tmp_path / "mask.png", "--device", "cpu")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out" / "coffee_restored.png")
    np.testing.assert_array_equal(out[~mask], photo("coffee")[~mask])
    result = run("restore", images / "sub" / "cat.jpg", "-o", tmp_path / "out", "--model",
                 tiny_model, "--mask", tmp_path / "mask.png")
    assert result.exit_code == 2 and "mask is 600x400, the image is 451x300" in result.output


def test_train_cli_and_resume_rules(tiny_pairs, tmp_path):
    args = ["train", "pix2pix", tiny_pairs, "-o", tmp_path / "run", "--size", 32, "--ngf", 8,
            "--ndf", 8, "--steps", 2, "--sample-every", 1]
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "trained to step 2" in result.output
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == [
        "step_00000001.png", "step_00000002.png"]
    result = run(*args)
    assert result.exit_code == 2 and "--resume" in result.output
    result = run("train", "pix2pix", tiny_pairs, "-o", tmp_path / "run", "--resume", "--ngf", 16)
    assert result.exit_code == 2 and "keeps the run's model settings" in result.output
    result = run("train", "pix2pix", tiny_pairs, "-o", tmp_path / "run", "--resume", "--steps", 3)
    assert result.exit_code == 0 and "trained to step 3" in result.output


def test_version_and_env():
    assert run("--version").output.startswith("mosaicgan, version")
    assert "torch" in run("env").output
