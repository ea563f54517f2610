import numpy as np
import pytest
import torch

from mosaicgan.mosaic import default_block, pixelate, pixelate_array
from mosaicgan.regions.masks import box_mask, ellipse_mask

from .conftest import photo


def cell_means_by_hand(image, mask, block, origin):
    """Expected output computed pixel by pixel, the slow obvious way."""
    out = image.astype(np.float64).copy()
    h, w = mask.shape
    ox, oy = origin
    cells = {}
    for y in range(h):
        for x in range(w):
            if mask[y, x]:
                key = ((y - oy) // block, (x - ox) // block)
                cells.setdefault(key, []).append((y, x))
    for pixels in cells.values():
        ys, xs = zip(*pixels, strict=True)
        out[ys, xs] = image[ys, xs].astype(np.float64).mean(axis=0)
    return np.round(out).astype(np.uint8)


@pytest.mark.parametrize("block,origin,shape", [
    (4, (0, 0), "box"), (5, (3, 7), "box"), (7, (-2, 11), "ellipse"), (1, (0, 0), "box"),
])
def test_exact_block_means(block, origin, shape):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 29, 3), dtype=np.uint8)
    make = box_mask if shape == "box" else ellipse_mask
    mask = make(37, 29, (3, 5, 20, 25))
    got = pixelate_array(image, mask, block, origin)
    np.testing.assert_array_equal(got, cell_means_by_hand(image, mask, block, origin))


def test_outside_unchanged_inside_constant_and_input_untouched():
    image = photo("chelsea")
    before = image.copy()
    mask = box_mask(*image.shape[:2], (100, 50, 120, 90))
    out = pixelate_array(image, mask, 10, (100, 50))
    np.testing.assert_array_equal(image, before)
    np.testing.assert_array_equal(out[~mask], image[~mask])
    cell = out[50:60, 100:110].reshape(-1, 3)
    assert (cell == cell[0]).all()
    assert not (out[mask] == image[mask]).all()


def test_origin_is_taken_modulo_block():
    image = photo("coffee")[:64, :64]
    mask = np.ones((64, 64), bool)
    np.testing.assert_array_equal(pixelate_array(image, mask, 8, (3, 5)),
                                  pixelate_array(image, mask, 8, (3 + 16, 5 - 24)))


@pytest.mark.parametrize("batch", [0, 1, 2])
def test_batches_and_shapes(batch):
    img = torch.rand(batch, 3, 20, 30)
    mask = torch.zeros(batch, 1, 20, 30, dtype=torch.bool)
    mask[..., 5:15, 5:25] = True
    out = pixelate(img, mask, 4)
    assert out.shape == img.shape and out.dtype == img.dtype
    if batch:
        assert torch.equal(out[~mask.expand_as(img)], img[~mask.expand_as(img)])


def test_bad_shapes_raise_with_shapes():
    with pytest.raises(ValueError, match=r"\(1, 3, 8, 8\)"):
        pixelate(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 4, 4, dtype=torch.bool), 2)
    with pytest.raises(ValueError, match="block"):
        pixelate(torch.rand(1, 3, 8, 8), torch.ones(1, 1, 8, 8, dtype=torch.bool), 0)


def test_default_block_gives_12_to_20_blocks():
    for w, h in [(100, 40), (300, 300), (37, 220), (1000, 20)]:
        assert 12 <= max(w, h) / default_block(w, h) <= 20


def test_gradient_flows_through_pixelate():
    img = torch.rand(1, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    mask = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    mask[..., 2:6, 2:6] = True
    assert torch.autograd.gradcheck(lambda x: pixelate(x, mask, 2), (img,))


def test_each_region_gets_its_own_grid_and_block():
    from mosaicgan.api import mosaic_image

    image = photo("coffee")
    small, large = (20, 20, 40, 40), (300, 100, 240, 240)
    mask = box_mask(400, 600, small) | box_mask(400, 600, large)
    out = mosaic_image(image, mask)
    expected = pixelate_array(pixelate_array(image, box_mask(400, 600, small), 2, (20, 20)),
                              box_mask(400, 600, large), 15, (300, 100))
    np.testing.assert_array_equal(out, expected)


def test_the_array_mosaic_gives_the_tensor_mosaics_cells_to_the_bit():
    """pixelate_array (NumPy: images and videos) and pixelate (torch: training pairs) make
    the same cells, on any grid, block and mask, ties at .5 included (tiny masks make
    many: the mean of two pixels)."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        height, width = (int(v) for v in rng.integers(5, 90, 2))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        mask = rng.random((height, width)) < rng.random()
        block = int(rng.integers(1, 20))
        origin = (int(rng.integers(-30, 30)), int(rng.integers(-30, 30)))
        tensor = pixelate(torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None],
                          torch.from_numpy(mask)[None, None], block, origin)
        expected = tensor[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
        np.testing.assert_array_equal(pixelate_array(image, mask, block, origin), expected)
