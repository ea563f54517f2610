import numpy as np
from skimage import data

from mosaicgan.find.cells import cell_ids, match_cell_means
from mosaicgan.metrics import masked_psnr
from mosaicgan.mosaic import pixelate_array


def test_cells_follow_the_grid_and_the_mask():
    mask = np.zeros((20, 20), bool)
    mask[3:13, 5:9] = True  # rows 3..12, cols 5..8
    ys, xs, ids, n = cell_ids(mask, 4, (1, 2))  # cell rows start at 2, 6, 10; cols at 1, 5, 9
    assert n == 3 * 1
    assert len(ys) == mask.sum()
    # Pixels share a cell exactly when they share a grid square.
    square = ((ys - 2) // 4) * 100 + (xs - 1) // 4
    for i in range(n):
        assert len(set(square[ids == i])) == 1
    assert cell_ids(np.zeros((5, 5), bool), 4, (0, 0))[3] == 0


def test_matching_cell_means_never_moves_a_restoration_away_from_the_photo():
    photo = data.astronaut()[100:300, 150:350]
    mask = np.zeros(photo.shape[:2], bool)
    mask[40:170, 30:160] = True
    block, origin = 10, (33, 44)
    mosaic = pixelate_array(photo, mask, block, origin)
    rng = np.random.default_rng(0)
    # Restorations that are wrong in different ways: a colour cast, noise, the mosaic.
    casts = [np.clip(photo.astype(int) + np.array([25, -10, 5]), 0, 255),
             np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255), mosaic]
    for guess in casts:
        guess = np.where(mask[..., None], guess, photo).astype(np.uint8)
        matched = match_cell_means(guess, mosaic, mask, block, origin)
        np.testing.assert_array_equal(matched[~mask], guess[~mask])
        before, after = masked_psnr(guess, photo, mask), masked_psnr(matched, photo, mask)
        assert after >= before - 0.01, (before, after)
    # A constant colour cast is exactly what the cell means undo.
    cast = np.where(mask[..., None], casts[0], photo).astype(np.uint8)
    assert masked_psnr(match_cell_means(cast, mosaic, mask, block, origin), photo, mask) > \
        masked_psnr(cast, photo, mask) + 5
    # The mosaic already has its own means: nothing to change.
    np.testing.assert_array_equal(match_cell_means(mosaic, mosaic, mask, block, origin), mosaic)
