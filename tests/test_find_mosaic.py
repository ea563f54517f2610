"""find_mosaic: finds pixelated regions (any block size and grid origin), ignores clean photos."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from skimage import data

from mosaicgan.find import MosaicRegion, find_mosaic, find_mosaic_regions
from mosaicgan.imageio import encode_jpeg
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask, ellipse_mask, iou

BLOCKS = (6, 8, 12, 16, 20, 24)

# Regions on textured content of scikit-image's photos, (x, y, w, h). A mosaic of a flat
# area (sky) has cells of nearly one colour and is only partly found: not tested here.
REGIONS = {
    "chelsea": (90, 40, 260, 200),
    "motorcycle_left": (200, 100, 300, 220),
    "immunohistochemistry": (100, 100, 280, 220),
}


@functools.cache
def photo(name: str) -> np.ndarray:
    if name == "motorcycle_left":
        return data.stereo_motorcycle()[0]
    return getattr(data, name)()


def mosaic_case(name: str, block: int, shape: str, box=None, seed: int = 0):
    """(mosaiced image, true mask, origin) with a grid origin drawn from seed."""
    image = photo(name)
    h, w = image.shape[:2]
    box = box or REGIONS[name]
    mask = box_mask(h, w, box) if shape == "rect" else ellipse_mask(h, w, box)
    rng = np.random.default_rng([seed, block, shape == "rect"])
    origin = (int(rng.integers(block)), int(rng.integers(block)))
    return pixelate_array(image, mask, block, origin), mask, origin


@pytest.mark.parametrize("name", sorted(REGIONS))
@pytest.mark.parametrize("encoding", ["png", "jpeg75"])
@pytest.mark.parametrize("shape", ["rect", "ellipse"])
@pytest.mark.parametrize("block", BLOCKS)
def test_finds_mosaic(name, encoding, shape, block):
    mosaic, mask, _ = mosaic_case(name, block, shape)
    if encoding == "jpeg75":
        mosaic = encode_jpeg(mosaic, 75)
    found = find_mosaic(mosaic)
    assert found.shape == mask.shape and found.dtype == bool
    assert iou(found, mask) >= 0.9


@pytest.mark.parametrize("block", [6, 16])
def test_reports_block_and_origin(block):
    mosaic, mask, origin = mosaic_case("chelsea", block, "rect", seed=3)
    regions = find_mosaic_regions(mosaic)
    assert len(regions) == 1
    r = regions[0]
    assert isinstance(r, MosaicRegion)
    assert r.block == block
    assert r.origin == (origin[0] % block, origin[1] % block)
    assert iou(r.mask, mask) >= 0.95
    x, y, w, h = r.box
    ys, xs = np.nonzero(r.mask)
    assert (x, y, w, h) == (xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1)


@pytest.mark.parametrize("name", ["chelsea", "coffee", "astronaut", "rocket",
                                  "motorcycle_left", "hubble_deep_field",
                                  "immunohistochemistry"])
@pytest.mark.parametrize("quality", [None, 90, 75])
def test_clean_photo_has_no_region(name, quality):
    image = photo(name)
    if quality is not None:
        image = encode_jpeg(image, quality)
    found = find_mosaic(image)
    assert found.mean() < 0.005
    assert find_mosaic_regions(image) == []


@pytest.mark.parametrize("quality", [None, 75])
def test_two_regions_with_different_blocks(quality):
    image = photo("motorcycle_left")
    h, w = image.shape[:2]
    first = box_mask(h, w, (30, 120, 240, 200))
    second = ellipse_mask(h, w, (400, 100, 300, 260))
    mosaic = pixelate_array(image, first, 8, (3, 5))
    mosaic = pixelate_array(mosaic, second, 20, (7, 11))
    if quality is not None:
        mosaic = encode_jpeg(mosaic, quality)
    regions = find_mosaic_regions(mosaic)
    assert sorted(r.block for r in regions) == [8, 20]
    by_block = {r.block: r for r in regions}
    assert by_block[8].origin == (3, 5) and by_block[20].origin == (7, 11)
    assert iou(by_block[8].mask, first) >= 0.9
    assert iou(by_block[20].mask, second) >= 0.9
    assert not (by_block[8].mask & by_block[20].mask).any()
    assert iou(find_mosaic(mosaic), first | second) >= 0.9


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (9, 40), (30, 30), (100, 3)])
def test_tiny_image_gives_empty_mask(shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    found = find_mosaic(image)
    assert found.shape == shape and not found.any()


def test_image_smaller_than_a_block_gives_empty_mask():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:10] = 200
    assert not find_mosaic(image, min_block=24, max_block=40).any()


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_image_gives_empty_mask(value):
    assert not find_mosaic(np.full((100, 100, 3), value, np.uint8)).any()


def test_noise_gives_empty_mask():
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    assert not find_mosaic(image).any()


def test_input_not_modified_and_views_accepted():
    mosaic, mask, _ = mosaic_case("chelsea", 12, "ellipse")
    before = mosaic.copy()
    found = find_mosaic(mosaic)
    np.testing.assert_array_equal(mosaic, before)
    # a flipped (non-contiguous) view finds the flipped region
    flipped = find_mosaic(mosaic[:, ::-1])
    assert iou(flipped, mask[:, ::-1]) >= 0.9
    assert iou(flipped[:, ::-1], found) >= 0.9


def test_find_mosaic_is_union_of_regions():
    mosaic, _, _ = mosaic_case("immunohistochemistry", 8, "rect")
    regions = find_mosaic_regions(mosaic)
    union = np.zeros(mosaic.shape[:2], bool)
    for r in regions:
        union |= r.mask
    np.testing.assert_array_equal(find_mosaic(mosaic), union)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 4), np.uint8),
                                 np.zeros((10, 10, 3), np.float32)])
def test_rejects_wrong_input(bad):
    with pytest.raises(ValueError, match="uint8"):
        find_mosaic(bad)


def test_rejects_bad_block_range():
    with pytest.raises(ValueError, match="min_block"):
        find_mosaic(np.zeros((50, 50, 3), np.uint8), min_block=10, max_block=5)
