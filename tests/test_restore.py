import cv2
import numpy as np
import pytest
import torch

from mosaicgan.api import mosaic_image, restore_files
from mosaicgan.find import CellGrid
from mosaicgan.imageio import read_image, read_metadata, write_image
from mosaicgan.models.restorer import Restorer, feather_alpha, window_for
from mosaicgan.regions.masks import box_mask, ellipse_mask

from .conftest import photo


@pytest.mark.parametrize("shape,box", [
    ((400, 600), (200, 100, 150, 120)),
    ((333, 517), (0, 0, 90, 60)),  # odd size, region in a corner
    ((37, 53), (10, 5, 30, 20)),  # smaller than the generator's window
])
def test_outside_pixels_are_byte_identical_png_in_png_out(tiny_model, tmp_path, shape, box,
                                                          no_detections):
    image = np.asarray(photo("coffee")[:shape[0], :shape[1]])
    mask = ellipse_mask(*shape, box)
    mosaiced = mosaic_image(image, mask, 6)
    src = write_image(tmp_path / "in" / "photo.png", mosaiced)
    mask_file = write_image(tmp_path / "mask.png", mask.astype(np.uint8) * 255)
    before = src.read_bytes()
    report = restore_files([src], tmp_path / "out", model=tiny_model, mask=mask_file,
                           log=lambda _: None)
    out = tmp_path / "out" / "photo_restored.png"
    assert report.ok and report.written == [out]
    restored = read_image(out)
    assert restored.shape == mosaiced.shape
    np.testing.assert_array_equal(restored[~mask], mosaiced[~mask])
    assert (restored[mask] != mosaiced[mask]).any()
    assert src.read_bytes() == before  # input untouched
    meta = read_metadata(out)
    assert meta["operation"] == "restore" and meta["refused"] == []
    x, y, w, h = meta["synthesized"][0]
    ys, xs = np.nonzero(mask)
    assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())


def test_each_region_is_restored_separately(tiny_model, no_detections):
    image = photo("chelsea")
    mask = box_mask(300, 451, (20, 20, 60, 50)) | box_mask(300, 451, (300, 150, 100, 100))
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    result = restorer.restore(mosaic_image(image, mask, 8), mask)
    assert sorted(result.synthesized) == [(20, 20, 60, 50), (300, 150, 100, 100)]


def test_feather_ramps_inside_the_mask_only():
    mask = box_mask(20, 20, (5, 5, 10, 10))
    alpha = feather_alpha(mask, 2)
    assert (alpha[~mask] == 0).all() and alpha[10, 10] == 1
    assert 0 < alpha[5, 10] < alpha[6, 10] < alpha[7, 10] <= 1
    edge = feather_alpha(box_mask(20, 20, (0, 0, 10, 20)), 2)
    assert edge[10, 0] == 1  # the image border is not a seam


def test_window_has_context_and_stays_inside_large_images():
    x, y, side = window_for((10, 10, 40, 20), 500, 400, 64)
    assert side == 64 and x >= 0 and y >= 0
    x, y, side = window_for((100, 100, 200, 100), 500, 400, 64)
    assert side == 320 and x <= 100 and x + side >= 300 and y >= 0 and y + side <= 400
    assert window_for((0, 0, 300, 300), 1000, 1000, 256)[2] == 512  # a multiple of 256


def test_restore_on_a_translation_model_is_refused(tmp_path, no_detections):
    from mosaicgan.api import train_pix2pix
    from mosaicgan.errors import ModelError
    from mosaicgan.train.loop import LoopOptions

    ab = np.concatenate([photo("coffee")[:64, :64], photo("chelsea")[:64, :64]], 1)
    write_image(tmp_path / "ab" / "train" / "1.png", ab)
    train_pix2pix(tmp_path / "ab", tmp_path / "run", config={"size": 32, "ngf": 8, "ndf": 8},
                  log=lambda _: None,
                  loop=LoopOptions(steps=1, progress=False, sample_every=0))
    with pytest.raises(ModelError, match="translate"):
        Restorer.from_checkpoint(tmp_path / "run")


def test_batched_generation_equals_one_at_a_time(tiny_model, no_detections):
    import torch

    from mosaicgan.nets import UNet, per_sample_norm

    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    crops = [photo(n)[:48, :48] for n in ("coffee", "chelsea", "astronaut")]
    masks = [box_mask(48, 48, (8, 8, 20 + i, 16)) for i in range(3)]
    together = restorer._generate_batch(crops, masks)
    alone = [restorer._generate_batch([c], [m])[0] for c, m in zip(crops, masks, strict=True)]
    for a, b in zip(together, alone, strict=True):
        assert a.shape == (48, 48, 3)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    # The swap keeps the batch-1 arithmetic of batch norm exactly.
    torch.manual_seed(0)
    net = UNet(3, 3, levels=5, ngf=8).eval()
    x = torch.rand(1, 3, 32, 32)
    before = net(x)
    torch.testing.assert_close(per_sample_norm(net)(x), before)


def test_exported_half_model_restores_like_the_run(tiny_model, tmp_path, no_detections):
    from mosaicgan.api import export_model

    path = export_model(tiny_model, tmp_path / "model.json")
    assert path.is_file() and (tmp_path / "model.safetensors").is_file()
    image = photo("coffee")[:96, :96]
    mask = box_mask(96, 96, (20, 20, 40, 30))
    run = Restorer.from_checkpoint(tiny_model).restore(image, mask)
    shipped = Restorer.from_checkpoint(path).restore(image, mask)
    assert np.abs(run.image.astype(int) - shipped.image.astype(int)).max() <= 3


def _identity_restorer(prefill: str, size: int = 64, match_cells: bool = False) -> Restorer:
    """A fresh residual restorer: its correction starts at exactly 0."""
    from mosaicgan.nets import init_weights
    from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator

    cfg = Pix2PixConfig(size=size, ngf=8, ndf=8, residual=True, prefill=prefill)
    G = init_weights(build_generator(cfg)).start_as_identity()
    return Restorer(G, cfg, torch.device("cpu"),
                    match_cells=match_cells)


def test_bicubic_prefill_starts_a_fresh_restorer_at_the_bicubic_baseline(no_detections):
    from mosaicgan.baselines import bicubic_from_blocks

    image = photo("chelsea")
    mask = box_mask(300, 451, (150, 80, 120, 96))
    block, origin = 8, (153, 83)
    mosaiced = mosaic_image(image, mask, block, origin=origin)
    bicubic = bicubic_from_blocks(mosaiced, mask, block, origin)
    assert (bicubic[mask] != mosaiced[mask]).any()
    # Past the feathered edge:
    inner = cv2.erode(mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    restorer = _identity_restorer("bicubic")
    given = restorer.restore(mosaiced, mask, [(mask, CellGrid.integer_grid(block, origin))]).image
    found = restorer.restore(mosaiced, mask).image  # the grid found by find-mosaic
    for out in (given, found):
        np.testing.assert_array_equal(out[inner], bicubic[inner])
        np.testing.assert_array_equal(out[~mask], mosaiced[~mask])
    plain = _identity_restorer("none").restore(mosaiced, mask).image
    np.testing.assert_array_equal(plain, mosaiced)  # without prefill it starts at the mosaic


def test_restored_cells_keep_the_mosaics_colours(no_detections):
    """With match_cells (the default) each restored cell's mean is the mosaic's colour
    there, which brings the bicubic start closer to the photo; outside nothing moves."""
    from mosaicgan.baselines import bicubic_from_blocks
    from mosaicgan.find.cells import cell_ids
    from mosaicgan.metrics import masked_psnr

    image = photo("chelsea")
    mask = box_mask(300, 451, (150, 80, 120, 96))
    block, origin = 8, (153, 83)
    mosaiced = mosaic_image(image, mask, block, origin=origin)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    restorer = _identity_restorer("bicubic", match_cells=True)
    for grids in ([(mask, CellGrid.integer_grid(block, origin))], None):  # given, and found
        out = restorer.restore(mosaiced, mask, grids).image
        np.testing.assert_array_equal(out[~mask], mosaiced[~mask])
        ys, xs, ids, n = cell_ids(mask, block, origin)
        counts = np.bincount(ids, minlength=n)
        # Cells past the feathered edge (the edge blends in the mosaic itself):
        whole = np.bincount(ids, inner[ys, xs], n) == counts
        assert whole.sum() >= 50
        for c in range(3):
            got = np.bincount(ids, out[ys, xs, c].astype(float), n) / counts
            want = np.bincount(ids, mosaiced[ys, xs, c].astype(float), n) / counts
            assert np.abs(got - want)[whole].max() <= 0.5 + 1e-9
        bicubic = bicubic_from_blocks(mosaiced, mask, block, origin)
        assert masked_psnr(out, image, mask) > masked_psnr(bicubic, image, mask) + 0.05


def test_restorer_trained_on_pairs_records_the_bicubic_prefill(tiny_model, tiny_pairs):
    from mosaicgan.data.paired import PairedDataset

    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    assert restorer.cfg.residual and restorer.cfg.prefill == "bicubic"
    plain = PairedDataset(tiny_pairs, "train", 32, augment=False)
    filled = PairedDataset(tiny_pairs, "train", 32, augment=False, prefill="bicubic")
    a, _, mask = plain.views(0)
    b, _, same_mask = filled.views(0)
    np.testing.assert_array_equal(mask, same_mask)
    np.testing.assert_array_equal(a[~mask], b[~mask])
    assert (a[mask] != b[mask]).any()
