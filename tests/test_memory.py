"""Memory and time follow the region, not the image (issue 22): mosaic, blur and solid fill
work on each region's box, restore on each region's neighbourhood, with the same results
as the whole-image code; the default pixel limit follows the machine's memory."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from mosaicgan import limits
from mosaicgan.detect.base import Detection
from mosaicgan.geometry import component_masks
from mosaicgan.mosaic import (
    blur_array,
    default_block,
    mosaic_image,
    pixelate,
    pixelate_array,
    solid_array,
)
from mosaicgan.regions.masks import box_mask, ellipse_mask

from .conftest import detector_replaced, photo

# --- the whole-image code as it was: the reference -----------------------------------------

def whole_pixelate(image, mask, block, origin=(0, 0)):
    img = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None]
    return pixelate(img, m, block, origin)[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def whole_mosaic(image, mask, block=None, origin=None):
    out = image.copy()
    for (x, y, w, h), region in component_masks(mask):
        b = block if block is not None else default_block(w, h)
        out = whole_pixelate(out, region, b, origin if origin is not None else (x, y))
    return out


def whole_blur(image, mask, sigma=None):
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return image.copy()
    if sigma is None:
        sigma = max(3.0, max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 10)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)
    return np.where(mask[..., None], blurred, image)


# Regions touching each border and corner, and inside (astronaut is 512 x 512).
BOXES = [(0, 0, 90, 70), (200, 150, 120, 90), (440, 430, 72, 82), (5, 300, 60, 200),
         (300, 0, 212, 40), (0, 490, 512, 22)]


@pytest.mark.parametrize("box", BOXES)
def test_region_local_styles_equal_the_whole_image_code(box):
    image = photo("astronaut")
    mask = ellipse_mask(512, 512, box) | box_mask(512, 512, (box[0], box[1], 8, 8))
    np.testing.assert_array_equal(mosaic_image(image, mask), whole_mosaic(image, mask))
    np.testing.assert_array_equal(mosaic_image(image, mask, 7, (3, -2)),
                                  whole_mosaic(image, mask, 7, (3, -2)))
    np.testing.assert_array_equal(pixelate_array(image, mask, 11, (-5, 4)),
                                  whole_pixelate(image, mask, 11, (-5, 4)))
    for sigma in (None, 2.0, 30.0):  # blur reaches the borders from near and far
        np.testing.assert_array_equal(blur_array(image, mask, sigma),
                                      whole_blur(image, mask, sigma))
    expected = image.copy()
    expected[mask] = (10, 200, 30)
    np.testing.assert_array_equal(solid_array(image, mask, (10, 200, 30)), expected)


def test_region_local_styles_equal_on_random_masks():
    rng = np.random.default_rng(5)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(1, 120, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        speckle = rng.random((h, w)) < rng.uniform(0, 0.3)  # one region or many: one grid
        block = int(rng.integers(1, 25))
        origin = (int(rng.integers(-30, 30)), int(rng.integers(-30, 30)))
        np.testing.assert_array_equal(pixelate_array(image, speckle, block, origin),
                                      whole_pixelate(image, speckle, block, origin))
        np.testing.assert_array_equal(blur_array(image, speckle), whole_blur(image, speckle))
        mask = np.zeros((h, w), bool)  # a few regions, each with its own grid
        for _ in range(3):
            x, y = (int(v) for v in rng.integers(-10, (w, h)))
            mask |= ellipse_mask(h, w, (x, y, int(rng.integers(1, 60)), int(rng.integers(1, 60))))
        np.testing.assert_array_equal(mosaic_image(image, mask), whole_mosaic(image, mask))
        np.testing.assert_array_equal(blur_array(image, mask), whole_blur(image, mask))


def test_a_large_region_is_pixelated_in_strips_with_the_same_result(monkeypatch):
    from mosaicgan import mosaic

    monkeypatch.setattr(mosaic, "STRIP_PIXELS", 5000)  # many strips of whole cell rows
    image = photo("coffee")
    mask = ellipse_mask(400, 600, (20, 10, 560, 380))
    for block, origin in [(9, (4, 7)), (1, (0, 0)), (40, (-13, 3))]:
        np.testing.assert_array_equal(pixelate_array(image, mask, block, origin),
                                      whole_pixelate(image, mask, block, origin))


# --- peak memory ---------------------------------------------------------------------------

PEAK = """
import sys, numpy as np
from mosaicgan.mosaic import blur_array, mosaic_image, solid_array
from mosaicgan.regions.masks import box_mask
fn = {"mosaic": mosaic_image, "blur": blur_array, "solid": solid_array}[sys.argv[1]]
h, w = 3000, 4000
image = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
mask = box_mask(h, w, (1700, 1300, 300, 200))
fn(image[:64, :64], mask[:64, :64])  # first-call costs (torch's pools, cv2's buffers)
def peak():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
open("/proc/self/clear_refs", "w").write("5")  # the peak starts again from here
before = peak()
fn(image, mask)
print((peak() - before) * 1024 / (h * w))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
@pytest.mark.parametrize("job", ["mosaic", "blur", "solid"])
def test_a_box_costs_at_most_6_bytes_per_pixel_above_the_image(job):
    # A fresh process, its peak resident size reset once the image is made: everything
    # the job allocates counts (torch's and OpenCV's buffers too). The whole-image code
    # took ~100 B/px for a mosaic; the output's copy is 3.
    out = subprocess.run([sys.executable, "-c", PEAK, job], capture_output=True, text=True,
                         check=True)
    assert float(out.stdout.split()[-1]) <= 6.0


# --- restore ------------------------------------------------------------------------------

class Recorder:
    """Sees nothing, keeps every view the gate showed it."""

    def __init__(self):
        self.views: list[np.ndarray] = []

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.views.append(image.copy())
        return []


@pytest.fixture(scope="module", params=["tiny", pytest.param("shipped", marks=pytest.mark.slow)])
def restorer(request):
    """The 32 px test model (no prefill, cell matching), and the shipped one (256 px, the
    bicubic prefill too)."""
    from mosaicgan.models.restorer import Restorer, load_restorer

    if request.param == "shipped":
        return load_restorer(device="cpu")
    return Restorer.from_checkpoint(request.getfixturevalue("tiny_model"), device="cpu")


def canvas_with_mosaic(box, block):
    image = cv2.resize(photo("coffee"), (2400, 1600), interpolation=cv2.INTER_CUBIC)
    mask = box_mask(1600, 2400, box)
    return pixelate_array(image, mask, block, box[:2]), mask


@pytest.mark.parametrize("box,block", [((1100, 700, 200, 150), 12), ((2250, 20, 120, 90), 8)])
def test_a_region_of_a_large_canvas_restores_as_its_crop_alone(restorer, box, block):
    """The same pixels, outcome and gate views as restoring a crop holding the region's
    neighbourhood (the grids found there), far from and near the canvas's border."""
    image, mask = canvas_with_mosaic(box, block)
    x, y, w, h = box
    x0, y0 = max(0, x - 700), max(0, y - 700)
    x1, y1 = min(2400, x + w + 700), min(1600, y + h + 700)
    with detector_replaced(Recorder()) as seen_big:
        big = restorer.restore(image, mask)
    with detector_replaced(Recorder()) as seen_crop:
        crop = restorer.restore(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy())
    assert [r.restored for r in big.regions] == [r.restored for r in crop.regions] == [True]
    assert big.regions[0].box == box
    np.testing.assert_array_equal(big.image[y0:y1, x0:x1], crop.image)
    outside = np.ones((1600, 2400), bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(big.image[outside], image[outside])
    assert not np.array_equal(big.image[mask], image[mask])
    # the gate saw the same contexts: the box grown x1.5 at its own scale, x3 and x5 glances
    assert len(seen_big.views) == len(seen_crop.views) == 3
    for a, b in zip(seen_big.views, seen_crop.views, strict=True):
        np.testing.assert_array_equal(a, b)


def test_given_grids_restore_a_region_as_the_whole_image_does(restorer):
    """With the grids given (integer ones), the neighbourhood holds everything restoring
    reads: two regions of one canvas come out as each restored on its own crop."""
    from mosaicgan.find import CellGrid

    image, m1 = canvas_with_mosaic((300, 200, 180, 120), 10)
    m2 = box_mask(1600, 2400, (1800, 1200, 150, 150))
    image = pixelate_array(image, m2, 14, (1800, 1200))
    grids = [(m1, CellGrid.integer_grid(10, (300, 200))),
             (m2, CellGrid.integer_grid(14, (1800, 1200)))]
    with detector_replaced(Recorder()):
        both = restorer.restore(image, m1 | m2, grids)
        for (mask, grid), (x, y) in zip(grids, [(0, 0), (1000, 600)], strict=True):
            crop = (slice(y, y + 1000), slice(x, x + 1400))
            local = [(mask[crop], CellGrid(grid.pitch, (grid.phase[0] - x, grid.phase[1] - y)))]
            alone = restorer.restore(image[crop], mask[crop], local)
            np.testing.assert_array_equal(both.image[crop][mask[crop]], alone.image[mask[crop]])
    assert [r.restored for r in both.regions] == [True, True]


# --- the default pixel limit ---------------------------------------------------------------

def test_default_max_pixels_follows_the_memory_reading(monkeypatch):
    per = limits.BYTES_PER_PIXEL
    monkeypatch.setattr(limits, "available_memory", lambda: limits.RESERVE + 20_000_000 * per)
    assert limits.default_max_pixels() == 20_000_000
    monkeypatch.setattr(limits, "available_memory", lambda: limits.RESERVE + 40_000_000 * per)
    assert limits.default_max_pixels() == 40_000_000
    # never above Pillow's limit, never below the floor, Pillow's when memory is unknown
    monkeypatch.setattr(limits, "available_memory", lambda: 10**15)
    assert limits.default_max_pixels() == limits.PILLOW_MAX_PIXELS
    monkeypatch.setattr(limits, "available_memory", lambda: 10**6)
    assert limits.default_max_pixels() == limits.MIN_PIXELS
    monkeypatch.setattr(limits, "available_memory", lambda: None)
    assert limits.default_max_pixels() == limits.PILLOW_MAX_PIXELS


def test_memory_reading_takes_the_smallest_of_meminfo_and_a_cgroup_limit(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       32000000 kB\nMemAvailable:   16000000 kB\n")
    cgroup = tmp_path / "memory.max"
    monkeypatch.setattr(limits, "MEMINFO", meminfo)
    monkeypatch.setattr(limits, "CGROUP_FILES", [(cgroup, tmp_path / "memory.current")])
    assert limits.available_memory() == 16_000_000 * 1024
    cgroup.write_text("max\n")
    assert limits.available_memory() == 16_000_000 * 1024
    cgroup.write_text(f"{4 << 30}\n")
    (tmp_path / "memory.current").write_text(f"{1 << 30}\n")
    assert limits.available_memory() == 3 << 30
