"""The learned mosaic finder (shipped weights, loaded offline), its training samples, and
the combined finder: the learned one says where, the grid model how."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from mosaicgan.data import finder as samples
from mosaicgan.find import combined, learned
from mosaicgan.find.combined import Finding, find_regions
from mosaicgan.find.learned import find_learned, mosaic_probability, weights_path
from mosaicgan.imageio import encode_jpeg
from mosaicgan.mosaic import pixelate_array
from mosaicgan.nets.mosaicseg import MosaicSeg, fused
from mosaicgan.regions.masks import box_mask, iou

from .test_find_mosaic import photo

BOX = (120, 60, 240, 180)


def mosaiced(name: str = "coffee", block: int = 12, box=BOX, origin=(5, 3)):
    image = photo(name)
    mask = box_mask(*image.shape[:2], box)
    return image, pixelate_array(image, mask, block, origin), mask


def damaged(kind: str):
    """A mosaic on a bundled photo with one kind of damage, and its true mask."""
    clean, mosaic, mask = mosaiced()
    if kind == "none":
        return mosaic, mask
    if kind == "rescaled":
        return samples.rescale(mosaic, mask, 0.73)
    if kind == "rescaled + JPEG 75":
        image, truth = samples.rescale(mosaic, mask, 0.73)
        return encode_jpeg(image, 75), truth
    if kind == "feathered":
        return samples.feather(clean, mosaic, mask, 6.0)
    if kind == "x264 CRF 23":
        return samples.x264_frame(mosaic, 23), mask
    raise ValueError(kind)


def test_the_weights_ship_and_load_offline():
    path = weights_path()
    assert path.stat().st_size < 4e6  # a small network (issue: <= 3 M parameters)
    probability = mosaic_probability(photo("coffee"))
    assert probability.shape == photo("coffee").shape[:2]
    assert probability.min() >= 0 and probability.max() <= 1


@pytest.mark.parametrize("kind", ["none", "rescaled", "rescaled + JPEG 75", "feathered",
                                  "x264 CRF 23"])
def test_a_damaged_mosaic_is_found(kind):
    image, truth = damaged(kind)
    found = find_learned(image)
    assert iou(found, truth) >= 0.85, kind


@pytest.mark.parametrize("kind", ["bricks", "checkerboard", "tiles"])
def test_patterns_that_are_not_mosaics_are_not_found(kind):
    rng = np.random.default_rng(3)
    pattern = samples.lookalike(rng, kind, (360, 480))
    assert find_learned(pattern).mean() < 0.01, kind


def test_a_clean_photo_has_no_mosaic():
    """The default finder finds nothing in clean photos (the network alone marks a few
    small flat patches; those have no grid and the network is not sure of them)."""
    for name in ("coffee", "chelsea", "rocket", "hubble_deep_field"):
        finding = find_regions(encode_jpeg(photo(name), 80))
        assert not finding.mask.any(), name


def test_large_images_are_seen_in_tiles_alike(monkeypatch):
    """An image larger than a tile gives the mask a whole look would (away from seams)."""
    mosaic = mosaiced()[1]
    big = np.tile(mosaic, (3, 3, 1))[:1200, :1500]
    whole = find_learned(big)
    monkeypatch.setattr(learned, "TILE", 700)
    tiled = find_learned(big)
    assert iou(tiled, whole) >= 0.97 and whole.mean() > 0.1


@pytest.mark.parametrize("damage", ["none", "x264 CRF 23"])
def test_every_fast_path_finds_what_plain_fp32_finds(damage):
    """Each path the machine may try (bf16 only where the CPU has it natively) gives about
    the plain fp32 mask on a bundled photo; the fp32 layouts give its probabilities within
    the tolerance the choice allows (bf16 does not, and is not chosen)."""
    from mosaicgan.fastpath import PLAIN, candidates

    image, truth = damaged(damage)
    x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
    net = learned._network()
    plain = learned._run(net, PLAIN, x)
    for path in candidates(torch.device("cpu")):
        model = copy.deepcopy(net).to(memory_format=path.memory_format)
        probability = learned._run(model, path, x)
        assert probability.shape == plain.shape and probability.dtype == torch.float32
        if path.precision == "fp32":
            assert float((probability - plain).abs().max()) <= learned.TOLERANCE, path.label
        mask, plain_mask = probability[0, 0] >= 0.5, plain[0, 0] >= 0.5
        assert (mask != plain_mask).float().mean() < 0.005, path.label
        assert iou(mask.numpy(), truth) >= 0.8, path.label


def test_the_finders_path_is_measured_once_and_shown_by_doctor():
    from mosaicgan.fastpath import cached_decisions
    from mosaicgan.jobs.doctor import doctor_report

    chosen = learned.decision()
    assert chosen.source in ("measured", "cache", "measured on a busy machine, not cached")
    assert chosen.path.precision == "fp32"  # bf16 differs by ~0.04: beyond the tolerance
    assert all(g > learned.TOLERANCE for label, g in chosen.gaps.items() if "bf16" in label)
    again = learned.decision()
    assert again.path == chosen.path
    if chosen.source != "measured on a busy machine, not cached":
        assert again.source == "cache"
        assert any(isinstance(e, dict) and e.get("workload", {}).get("task") == "finder"
                   for e in cached_decisions().values())
        assert any("finder" in line for line in doctor_report())


def test_fused_network_computes_what_the_trained_one_does():
    torch.manual_seed(0)
    model = MosaicSeg()
    x = torch.rand(2, 3, 100, 140)
    model.train()
    model(x)  # running statistics away from their defaults
    model.eval()
    with torch.no_grad():
        plain = model(x)
        assert torch.allclose(fused(model)(x), plain, atol=1e-4)
    assert plain.shape == (2, 1, 100, 140)


def test_combined_finder_gives_the_grid_where_it_finds_one():
    image, truth = damaged("none")
    finding = find_regions(image)
    assert isinstance(finding, Finding) and len(finding.regions) == 1
    assert not finding.unrestorable
    region = finding.regions[0]
    assert region.block == 12 and region.origin == (5, 3)
    assert iou(finding.mask, truth) >= 0.97


def test_combined_finder_reports_an_area_without_a_grid_as_not_restorable(monkeypatch):
    """Where the learned finder sees a mosaic and the grid model finds no grid, the area
    is found but not restorable (the grid model failing is injected)."""
    image, truth = damaged("none")
    monkeypatch.setattr(combined, "find_mosaic_regions", lambda crop, **kw: [])
    finding = find_regions(image)
    assert finding.regions == [] and len(finding.unrestorable) == 1
    assert finding.unrestorable[0].reason == combined.NO_GRID
    assert iou(finding.mask, truth) >= 0.9


def test_combined_finder_drops_grid_finds_the_learned_finder_does_not_support(monkeypatch):
    """A grid region far from any learned area (a facade's windows) is not kept."""
    image = damaged("none")[0]
    monkeypatch.setattr(combined, "mosaic_probability",
                        lambda img: np.zeros(img.shape[:2], np.float32))
    assert find_regions(image).regions == []


# --- samples ---------------------------------------------------------------------------

def test_stretched_mosaic_has_flat_cells_of_the_given_size():
    image = photo("coffee")[:120, :150]
    mask = np.ones(image.shape[:2], bool)
    out = samples.stretched_mosaic(image, mask, (10, 7), (3, 2))
    cell = out[2:9, 3:13]
    assert (cell == cell[0, 0]).all()
    assert not (out[2:9, 3:14] == out[2, 3]).all()  # the next cell starts at x = 13
    expected = np.round(image[2:9, 3:13].reshape(-1, 3).astype(np.float64).mean(0))
    assert np.array_equal(cell[0, 0], expected.astype(np.uint8))


def test_x264_frame_keeps_size_and_roughly_the_picture():
    image = photo("coffee")[:101, :151]  # odd sizes: 4:2:0 needs even ones inside
    out = samples.x264_frame(image, 23)
    assert out.shape == image.shape
    assert 20 < np.abs(out.astype(int) - image).mean() * 100 < 900  # changed, not much


def test_samples_are_reproducible_and_masks_follow_the_mosaic():
    photo_ = photo("chelsea")
    a = samples.sample(photo_, np.random.default_rng(5))
    b = samples.sample(photo_, np.random.default_rng(5))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    sizes = {samples.sample(photo_, np.random.default_rng(s))[0].shape for s in range(20)}
    assert sizes == {(256, 256, 3)}
    found = [samples.sample(photo_, np.random.default_rng(s))[1].any() for s in range(20)]
    assert 5 < sum(found) < 20  # some samples hold no mosaic


def test_restore_leaves_an_area_without_a_grid_and_says_so(monkeypatch, tiny_model, tmp_path,
                                                             no_detections):
    """An area found without a grid is reported (log, metadata) and written unchanged."""
    from mosaicgan.api import restore_files
    from mosaicgan.imageio import write_image

    image, truth = damaged("none")
    monkeypatch.setattr(combined, "find_mosaic_regions", lambda crop, **kw: [])
    src = write_image(tmp_path / "in" / "photo.png", image)
    lines: list[str] = []
    report = restore_files([src], tmp_path / "out", model=tiny_model, log=lines.append)
    out = tmp_path / "out" / "photo_restored.png"
    assert report.ok and report.written == [out]
    assert out.read_bytes() == src.read_bytes()  # nothing restored: the input's bytes
    meta = report.details[str(src)]
    assert meta["synthesized"] == [] and len(meta["unrestorable"]) == 1
    x, y, w, h = meta["unrestorable"][0]
    assert iou(box_mask(*image.shape[:2], (x, y, w, h)), truth) >= 0.9
    assert any("no grid of cells" in line for line in lines)
