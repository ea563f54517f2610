"""--where cam|face|nudity, --style, `mosaicgan cam` and `pairs --where cam`, end to end."""

import json

import numpy as np
from click.testing import CliRunner

from mosaicgan.api import RegionSpec, find_regions, make_pairs, mosaic_files
from mosaicgan.cli import main
from mosaicgan.detect.base import Detection
from mosaicgan.imageio import read_image, read_mask, write_image
from mosaicgan.regions.masks import box_mask, iou

from .conftest import ASTRONAUT_FACE, FakeDetector, photo

CAT_BOX = (30, 0, 370, 300)  # chelsea's cat, checked by eye: x 30-400, y 0-300


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_mosaic_where_cam_covers_the_cat_and_exports_regions(tmp_path):
    write_image(tmp_path / "in" / "cat.png", photo("chelsea"))
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--where", "cam",
                 "--target", "tiger cat", "--regions", tmp_path / "regions")
    assert result.exit_code == 0, result.output
    mask = read_mask(tmp_path / "regions" / "cat_regions.png")
    assert iou(mask, box_mask(300, 451, CAT_BOX)) >= 0.5
    info = json.loads((tmp_path / "regions" / "cat_regions.json").read_text())
    assert info["regions"][0]["label"] == "tiger cat"
    out = read_image(tmp_path / "out" / "cat_anonymised.png")
    np.testing.assert_array_equal(out[~mask], photo("chelsea")[~mask])
    assert not np.array_equal(out[mask], photo("chelsea")[mask])


def test_score_gate_absent_class_means_no_mosaic(tmp_path):
    write_image(tmp_path / "in" / "coffee.png", photo("coffee"))
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--where", "cam",
                 "--target", "goldfish", "--min-score", "0.05")
    assert result.exit_code == 0 and "no region found" in result.output
    out = tmp_path / "out" / "coffee_anonymised.png"
    assert out.read_bytes() == (tmp_path / "in" / "coffee.png").read_bytes()  # copied as it was


def test_unknown_class_is_one_line_with_close_matches(tmp_path):
    write_image(tmp_path / "in" / "coffee.png", photo("coffee"))
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--where", "cam",
                 "--target", "expresso")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "espresso" in lines[0]
    assert not (tmp_path / "out").exists()


def test_where_face_with_solid_fill_hides_the_astronaut(tmp_path):
    write_image(tmp_path / "in" / "a.png", photo("astronaut"))
    result = run("mosaic", tmp_path / "in", "-o", tmp_path / "out", "--where", "face",
                 "--style", "solid")
    assert result.exit_code == 0, result.output
    out = read_image(tmp_path / "out" / "a_anonymised.png")
    x, y, w, h = ASTRONAUT_FACE
    assert (out[y + 10:y + h - 10, x + 10:x + w - 10] == 0).all()


def test_where_nudity_with_injected_detections(tmp_path, inject):
    """Censoring is always allowed; tested with an injected detection, no such image."""
    write_image(tmp_path / "in" / "c.png", photo("coffee"))
    inject(FakeDetector([Detection("BUTTOCKS_EXPOSED", 0.8, (100, 100, 60, 40)),
                         Detection("FEET_EXPOSED", 0.9, (300, 300, 50, 50))]))
    report = mosaic_files([tmp_path / "in"], tmp_path / "out", where=RegionSpec("nudity"),
                          style="blur", regions_dir=tmp_path / "r",
                          log=lambda _: None)
    assert report.ok
    mask = read_mask(tmp_path / "r" / "c_regions.png")
    assert mask[120, 130] and not mask[320, 320]
    out = read_image(tmp_path / "out" / "c_anonymised.png")
    assert not np.array_equal(out[mask], photo("coffee")[mask])
    np.testing.assert_array_equal(out[~mask], photo("coffee")[~mask])


def test_blur_and_solid_only_touch_the_region():
    from mosaicgan.api import redact

    image = photo("coffee")
    mask = box_mask(400, 600, (200, 100, 120, 90))
    for style in ("mosaic", "blur", "solid"):
        out = redact(image, mask, style)
        np.testing.assert_array_equal(out[~mask], image[~mask])
        assert out[mask].std() < image[mask].std()  # detail is gone


def test_cam_command_writes_overlay_mask_and_json(tmp_path):
    write_image(tmp_path / "coffee.png", photo("coffee"))
    result = run("cam", tmp_path / "coffee.png", "-o", tmp_path / "cam", "--target", "espresso")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "cam").iterdir() if p.name[0] != ".")
    assert names == ["coffee_cam.json", "coffee_cam.png", "coffee_cam_mask.png"]
    info = json.loads((tmp_path / "cam" / "coffee_cam.json").read_text())
    assert info["class_name"] == "espresso" and info["regions"][0]["box"]
    assert read_image(tmp_path / "cam" / "coffee_cam.png").shape == (400, 600, 3)


def test_pairs_where_cam_crop_around_the_class(tmp_path, no_detections):
    write_image(tmp_path / "photos" / "coffee.png", photo("coffee"))
    write_image(tmp_path / "photos" / "cat.png", photo("chelsea"))
    spec = RegionSpec("cam", target="espresso", min_score=0.3)
    report = make_pairs(tmp_path / "photos", tmp_path / "ds", size=128, per_image=3, val=0.0,
                        where=spec, log=lambda _: None,
                        progress=False)
    assert [p.rsplit("/", 1)[-1] for p, _ in report.skipped] == ["cat.png"]  # no espresso
    rows = [json.loads(x) for x in (tmp_path / "ds" / "train" / "pairs.jsonl").read_text()
            .splitlines()]
    assert rows and all(r["shape"] == "region" for r in rows)
    cup = find_regions(photo("coffee"), spec).mask
    for r in rows:  # the mosaiced region lies on the cup
        x, y, _ = r["crop"]
        scale = r["scale"]
        m = read_mask(tmp_path / "ds" / "train" / r["mask"])
        ys, xs = np.nonzero(m)
        cx, cy = (xs.mean() + x) / scale, (ys.mean() + y) / scale
        assert cup[int(cy), int(cx)]
