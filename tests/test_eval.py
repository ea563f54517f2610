import json

import numpy as np
import pytest

from mosaicgan.api import evaluate
from mosaicgan.baselines import bicubic_from_blocks, inpaint_telea
from mosaicgan.jobs.evaluate import make_samples
from mosaicgan.metrics import (
    CELL_ENERGY_LIMIT,
    cell_frequency_energy,
    kid,
    masked_psnr,
    masked_ssim,
)
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask

from .conftest import photo


def test_eval_writes_every_method_and_block(tiny_model, photos_dir, tmp_path, no_detections):
    report = evaluate(photos_dir, tmp_path / "report", model=tiny_model, blocks=(8, 12),
                      per_image=1, seed=4, log=lambda _: None,
                      progress=False)
    rows = json.loads((tmp_path / "report" / "report.json").read_text())
    assert rows == report.rows
    assert {(r["method"], r["block"]) for r in rows} == {
        (m, b) for m in ("model", "mosaic", "bicubic", "inpaint_telea") for b in (8, 12)}
    for r in rows:
        assert set(r) == {"method", "sharpness", "block", "psnr", "ssim", "kid",
                          "feature_distance", "cell_peak", "n"} and r["n"] == 4
        assert 5 < r["psnr"] < 60 and -1 <= r["ssim"] <= 1 and r["kid"] is not None
        assert r["sharpness"] is None  # a model without a dial, and the baselines
    html = (tmp_path / "report" / "report.html").read_text()
    assert "proxy" in html and 'src="grid.png"' in html and html.count("<svg") == 2
    assert (tmp_path / "report" / "grid.png").is_file()

    # The mosaic and bicubic rows, computed independently from the same samples.
    from mosaicgan.walk import list_images

    samples, _ = make_samples(list_images([photos_dir]), (8, 12), 1, 4, log=lambda _: None)
    for method in ("mosaic", "bicubic"):
        for block in (8, 12):
            values = []
            for s in (s for s in samples if s.block == block):
                out = s.mosaic if method == "mosaic" else \
                    bicubic_from_blocks(s.mosaic, s.mask, block, s.origin)
                err = (out[s.mask].astype(float) - s.clean[s.mask].astype(float)) ** 2
                values.append(10 * np.log10(255 ** 2 / err.mean()))
            row = next(r for r in rows if r["method"] == method and r["block"] == block)
            assert row["psnr"] == pytest.approx(np.mean(values), abs=1e-3)
            # The cell check: each region's peak over its clean target's, averaged.
            ratios = []
            for s in (s for s in samples if s.block == block):
                out = s.mosaic if method == "mosaic" else \
                    bicubic_from_blocks(s.mosaic, s.mask, block, s.origin)
                got, want = (cell_frequency_energy(im, s.mask, block) for im in (out, s.clean))
                if got is not None and want:
                    ratios.append(got / want)
            assert ratios  # (the regions are large enough to tell)
            assert row["cell_peak"] == pytest.approx(np.mean(ratios), abs=1e-3)


def test_metrics_by_hand():
    clean = photo("coffee")
    mask = box_mask(400, 600, (100, 100, 80, 60))
    noisy = clean.copy()
    noisy[mask] = np.clip(noisy[mask].astype(int) + 10, 0, 255).astype(np.uint8)
    expected = 10 * np.log10(255 ** 2 / np.mean(
        (noisy[mask].astype(float) - clean[mask].astype(float)) ** 2))
    assert masked_psnr(noisy, clean, mask) == pytest.approx(expected)
    assert masked_psnr(clean, clean, mask) == 100.0
    assert masked_ssim(clean, clean, mask) == pytest.approx(1.0)
    assert masked_ssim(noisy, clean, mask) < 1.0
    # Changes outside the mask do not count.
    outside = clean.copy()
    outside[~mask] = 0
    assert masked_psnr(outside, clean, mask) == 100.0


@pytest.mark.parametrize("block", [8, 12, 16])
def test_the_cell_frequency_check_flags_a_hatching_and_passes_a_clean_photo(block):
    """A faint diamond hatching of the cell's period (6 grey levels) is flagged; the clean
    photo, the photo with noise, and the mosaic itself are not."""
    clean = photo("chelsea")
    mask = box_mask(*clean.shape[:2], (100, 60, 180, 200))
    yy, xx = np.mgrid[:clean.shape[0], :clean.shape[1]]
    hatched = clean.astype(float)
    hatched[mask] += (6 * np.sin(2 * np.pi * (xx + yy) / block))[mask][:, None]
    noisy = clean + np.random.default_rng(0).normal(0, 3, clean.shape)
    mosaic = pixelate_array(clean, mask, block, (100, 60))
    base = cell_frequency_energy(clean, mask, block)
    ratio = {name: cell_frequency_energy(np.clip(im, 0, 255).astype(np.uint8), mask, block) / base
             for name, im in (("hatched", hatched), ("noisy", noisy), ("mosaic", mosaic))}
    assert ratio["hatched"] > CELL_ENERGY_LIMIT
    assert ratio["noisy"] < 1.05 and ratio["mosaic"] < 1.0
    assert cell_frequency_energy(clean, box_mask(*clean.shape[:2], (0, 0, 3 * block, 200)),
                                 block) is None  # too few cells to tell


def test_kid_separates_distributions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (40, 16)), rng.normal(0, 1, (40, 16))
    c = rng.normal(1.5, 1, (40, 16))
    assert abs(kid(a, b)) < kid(a, c)
    assert kid(a[:1], b) is None


def test_baselines_beat_or_match_the_mosaic_where_they_should():
    clean = photo("chelsea")
    mask = box_mask(300, 451, (150, 80, 120, 100))
    mosaic = pixelate_array(clean, mask, 8, (150, 80))
    bicubic = bicubic_from_blocks(mosaic, mask, 8, (150, 80))
    assert masked_psnr(bicubic, clean, mask) > masked_psnr(mosaic, clean, mask)
    for out in (bicubic, inpaint_telea(mosaic, mask)):
        np.testing.assert_array_equal(out[~mask], mosaic[~mask])
