"""Mosaics as they reach people: rescaled after they were made (fractional pitch), JPEG'd,
feathered into the photo; and restoring on such grids."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mosaicgan.baselines import bicubic_on_grid
from mosaicgan.find import (
    MosaicFollower,
    find_mosaic,
    find_mosaic_regions,
    follow_regions,
    regions_mask,
)
from mosaicgan.find.pitch import CellGrid, estimate_grids
from mosaicgan.imageio import encode_jpeg
from mosaicgan.models.restorer import Restorer
from mosaicgan.mosaic import pixelate_array
from mosaicgan.nets import init_weights
from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator
from mosaicgan.regions.masks import box_mask, iou

from .test_find_mosaic import photo

BOX = (90, 40, 260, 200)


def rescaled_mosaic(block: int, factor: float, origin=(3, 5), name="chelsea",
                    interpolation=None):
    """A mosaic of ``block`` px cells rescaled by ``factor``: cells of block * factor px,
    a cell edge at origin * factor. Returns the image, its true mask and the true grid."""
    image = photo(name)
    h, w = image.shape[:2]
    mask = box_mask(h, w, BOX)
    mosaic = pixelate_array(image, mask, block, origin)
    size = (round(w * factor), round(h * factor))
    interp = interpolation or (cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC)
    out = cv2.resize(mosaic, size, interpolation=interp)
    truth = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA
                       if factor < 1 else cv2.INTER_LINEAR) >= 0.5
    # a pixel-edge coordinate u scales to u * (new size / old size)
    sx, sy = size[0] / w, size[1] / h
    grid = CellGrid((block * sx, block * sy), (origin[0] * sx, origin[1] * sy))
    return out, truth, grid


def phase_error(found: float, true: float, pitch: float) -> float:
    d = (found - true) % pitch
    return min(d, pitch - d)


@pytest.mark.parametrize("block,factor", [(12, 0.7), (8, 0.7), (19, 0.7), (14, 0.95), (9, 1.5)])
def test_fractional_grids_are_found_with_their_pitch_and_phase(block, factor):
    image, truth, grid = rescaled_mosaic(block, factor)  # pitch 8.4, 5.6, 13.3, 13.3, 13.5
    (region,) = find_mosaic_regions(image)
    assert not region.grid.is_integer
    for axis in (0, 1):
        assert abs(region.grid.pitch[axis] - grid.pitch[axis]) < 0.03 * grid.pitch[axis]
        assert phase_error(region.grid.phase[axis], grid.phase[axis], grid.pitch[axis]) < 1.0
    assert iou(region.mask, truth) >= 0.85


def test_cells_that_are_not_square():
    image = photo("chelsea")
    h, w = image.shape[:2]
    mosaic = pixelate_array(image, box_mask(h, w, BOX), 12, (3, 5))
    stretched = cv2.resize(mosaic, (round(w * 0.75), h), interpolation=cv2.INTER_AREA)
    truth = cv2.resize(box_mask(h, w, BOX).astype(np.float32), (round(w * 0.75), h),
                       interpolation=cv2.INTER_AREA) >= 0.5
    (region,) = find_mosaic_regions(stretched)
    assert abs(region.grid.pitch[0] - 9.0) < 0.2 and abs(region.grid.pitch[1] - 12) < 0.2
    assert iou(region.mask, truth) >= 0.85


def test_a_rescaled_then_jpeg_mosaic_is_found():
    image, truth, _ = rescaled_mosaic(12, 0.7)
    assert iou(find_mosaic(encode_jpeg(image, 80)), truth) >= 0.8


def test_estimates_see_the_pitch_in_windows():
    image, _, _ = rescaled_mosaic(12, 0.7)
    y = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    best = estimate_grids(y)[0]
    assert abs(best.grid.pitch[0] - 8.4) < 0.05 and abs(best.grid.pitch[1] - 8.4) < 0.05


def test_a_feathered_mosaic_includes_its_band():
    image = photo("chelsea")
    h, w = image.shape[:2]
    mask = box_mask(h, w, BOX)
    mosaic = pixelate_array(image, mask, 12, (3, 5))
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)[..., None]
    feathered = np.round(alpha * mosaic + (1 - alpha) * image).astype(np.uint8)
    truth = alpha[..., 0] >= 0.05
    found = find_mosaic(feathered)
    hard = find_mosaic(mosaic)
    assert iou(found, truth) >= 0.9
    assert found.sum() > hard.sum()  # the band, beyond the cells the blend left flat
    assert iou(hard, mask) >= 0.97  # and an unfeathered mosaic gets no band


@pytest.mark.parametrize("factor", [0.7, 1.4])
def test_clean_rescaled_photos_give_nothing(factor):
    for name in ("chelsea", "coffee", "immunohistochemistry"):
        image = photo(name)
        interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
        scaled = cv2.resize(image, None, fx=factor, fy=factor, interpolation=interp)
        assert not find_mosaic(scaled).any(), name


def test_bicubic_on_a_fractional_grid_keeps_cell_means():
    image, truth, grid = rescaled_mosaic(12, 0.7, interpolation=cv2.INTER_AREA)
    filled = bicubic_on_grid(image, truth, grid)
    assert (filled[~truth] == image[~truth]).all()
    assert not (filled[truth] == image[truth]).all()
    # cells well inside: the interpolation's mean is the mosaic's (its cells' value)
    for cx, cy in ((150, 80), (180, 100), (200, 120)):
        x0 = int(np.ceil(grid.phase[0] + np.floor((cx - grid.phase[0]) / grid.pitch[0])
                         * grid.pitch[0])) + 1
        y0 = int(np.ceil(grid.phase[1] + np.floor((cy - grid.phase[1]) / grid.pitch[1])
                         * grid.pitch[1])) + 1
        cell = (slice(y0, y0 + 6), slice(x0, x0 + 6))
        assert np.abs(filled[cell].mean((0, 1)) - image[cell].mean((0, 1))).max() < 12


def identity_restorer(match_cells: bool = True) -> Restorer:
    cfg = Pix2PixConfig(size=64, ngf=8, ndf=8, residual=True, prefill="bicubic")
    generator = init_weights(build_generator(cfg)).start_as_identity()
    return Restorer(generator, cfg, torch.device("cpu"), match_cells=match_cells)


def test_restoring_on_a_fractional_grid_keeps_cell_colours_and_the_outside(no_detections):
    """A fresh residual restorer is its bicubic prefill: on a rescaled mosaic, restoring
    goes through the resampled neighbourhood and back; outside the region nothing moves,
    inside each cell keeps the mosaic's colour (cell matching)."""
    image, _, _ = rescaled_mosaic(12, 0.7)
    regions = find_mosaic_regions(image)
    found = regions[0].mask
    out = identity_restorer().restore(image, found, [(r.mask, r.grid) for r in regions])
    assert out.synthesized
    np.testing.assert_array_equal(out.image[~found], image[~found])
    grid = regions[0].grid
    inner = []
    for k in range(6):
        cx = int(grid.phase[0] + (10 + k) * grid.pitch[0] + grid.pitch[0] / 2)
        cy = int(grid.phase[1] + (6 + k % 3) * grid.pitch[1] + grid.pitch[1] / 2)
        cell = (slice(cy - 2, cy + 2), slice(cx - 2, cx + 2))
        if found[cell].all():
            inner.append(np.abs(out.image[cell].mean((0, 1)) - image[cell].mean((0, 1))).max())
    assert inner and max(inner) < 10
    assert np.abs(out.image[found].astype(int) - image[found]).mean() > 1  # interpolated


# --- video: grids followed from frame to frame ----------------------------------------------

def moving_mosaic(n: int, factor: float, block: int = 16, step=(3, 1)):
    """n frames of a photo whose mosaic box moves ``step`` px per frame (its grid moving
    with it, as a tool that tracks a face draws it), each rescaled by ``factor``. Returns
    the frames and their true masks."""
    image = photo("chelsea")
    h, w = image.shape[:2]
    size = (round(w * factor), round(h * factor))
    frames, truths = [], []
    for i in range(n):
        x, y, bw, bh = BOX
        box = (x + step[0] * i, y + step[1] * i, bw, bh)
        mask = box_mask(h, w, box)
        mosaic = pixelate_array(image, mask, block, (box[0] % block, box[1] % block))
        frames.append(cv2.resize(mosaic, size, interpolation=cv2.INTER_AREA if factor < 1
                                 else cv2.INTER_CUBIC))
        truths.append(cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA
                                 if factor < 1 else cv2.INTER_LINEAR) >= 0.5)
    return frames, truths


@pytest.mark.parametrize("factor", [1.0, 0.667])
def test_a_moving_mosaic_is_followed_on_its_grid(factor):
    """As a 1080p clip shown at 720p: one whole-frame search, then each frame's mosaic
    followed on its grid, found as well as a whole search finds it."""
    frames, truths = moving_mosaic(6, factor)
    follower = MosaicFollower()
    for frame, truth in zip(frames, truths, strict=True):
        found = regions_mask(follower.regions(frame), frame.shape)
        whole = find_mosaic(frame)
        assert iou(found, truth) >= 0.85
        assert iou(found, truth) >= iou(whole, truth) - 0.03
    assert (follower.searches, follower.followed) == (1, 5)
    assert follower.previous[0].grid.is_integer == (factor == 1.0)


def test_a_scene_change_or_a_new_mosaic_means_a_whole_search():
    frames, _ = moving_mosaic(3, 0.667)
    previous = find_mosaic_regions(frames[0])
    assert follow_regions(photo("coffee")[:frames[0].shape[0], :frames[0].shape[1]],
                          previous) is None  # the mosaic is gone
    assert follow_regions(frames[1], []) == []  # nothing to follow, nothing found
    follower = MosaicFollower(full_every=2)
    for frame in frames + frames[:1]:
        follower.regions(frame)
    assert (follower.searches, follower.followed) == (2, 2)  # every second frame searched
    follower.regions(photo("coffee"))
    assert follower.searches == 3 and follower.previous == []
    with pytest.raises(ValueError, match="full_every"):
        MosaicFollower(full_every=0)


def test_a_transcoded_video_is_restored_in_every_frame(tmp_path, tiny_model, no_detections):
    """A mosaiced clip rescaled to two thirds of its size and re-encoded (x264): every
    frame's mosaic found (one whole-frame search, then followed) and restored."""
    av = pytest.importorskip("av")
    from mosaicgan.jobs.restore import restore_video
    from mosaicgan.options import VideoOptions
    from mosaicgan.video.io import read_frames

    frames, truths = moving_mosaic(8, 0.667)
    h, w = frames[0].shape[:2]
    w, h = w // 2 * 2, h // 2 * 2  # 4:2:0
    src = tmp_path / "transcoded.mp4"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        v.options = {"crf": "18", "preset": "ultrafast"}
        for f in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f[:h, :w]),
                                                         format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    out = tmp_path / "restored.mp4"
    report = restore_video(src, out, Restorer.from_checkpoint(tiny_model, device="cpu"),
                           options=VideoOptions(progress=False), log=lambda _: None)
    assert report.frames_written == 8 and report.regions_restored == 8
    assert (report.frames_searched, report.frames_followed) == (1, 7)
    before = np.stack([f for _, f in read_frames(src)]).astype(int)
    after = np.stack([f for _, f in read_frames(out)]).astype(int)
    for i, truth in enumerate(truths):
        inside, outside = truth[:h, :w], ~cv2.dilate(truth[:h, :w].astype(np.uint8),
                                                      np.ones((25, 25), np.uint8)).astype(bool)
        assert np.abs(after[i] - before[i])[inside].mean() > 3  # restored (a tiny model)
        assert np.abs(after[i] - before[i])[outside].mean() < 2.5  # one more x264 pass


def test_the_windows_fast_fourier_sums_agree_with_the_plain_one():
    """The windows' search keeps its basis and multiplies in float32 (concentration's
    reuse), and looks at each window's own 1.5x pitch in one pass (own_concentration):
    both agree with the complex sum written out, on the profiles of a real photo."""
    from scipy.ndimage import uniform_filter1d

    from mosaicgan.find.pitch import _profiles, concentration, own_concentration

    y = cv2.cvtColor(photo("coffee"), cv2.COLOR_RGB2GRAY).astype(np.float32)
    rows = np.array([_profiles(y, (y0, y0 + 64, x0, x0 + 64))[0]
                     for y0 in (0, 100, 200) for x0 in (0, 150, 300)]).astype(np.float64)
    periods = np.arange(3.0, 21.0, 0.01)
    e = np.clip(rows - uniform_filter1d(rows, 7, axis=-1), 0, None) \
        * np.hanning(rows.shape[1] + 2)[1:-1]
    written = (e @ np.exp(-2j * np.pi * np.arange(e.shape[1])[None, :]
                          / periods[:, None]).T) / (e.sum(1, keepdims=True) + 1e-9)
    for reuse in (False, True, True):  # (the second reuse: the kept basis)
        got = concentration(rows, periods, reuse=reuse)
        assert got.shape == written.shape
        assert np.abs(got - written).max() <= (1e-5 if reuse else 1e-12)
        assert (np.abs(got).argmax(1) == np.abs(written).argmax(1)).all()
    own = 1.5 * periods[np.abs(written).argmax(1)]
    one_by_one = [concentration(r, np.array([p]))[0, 0] for r, p in zip(rows, own, strict=True)]
    assert np.allclose(own_concentration(rows, own), one_by_one, atol=1e-12)
