"""How well :func:`mosaicgan.find.find_mosaic` finds mosaics, and how often it errs.

For every photo, block size (6, 8, 12, 16, 20, 24) and encoding (lossless, JPEG 90,
JPEG 75 of the whole mosaiced image), one random rectangle or ellipse (160-300 x
120-220 px, enlarged to at least 8 blocks across its shorter side, clipped to the image)
is pixelated with a random grid origin, and the found mask is compared with the true one
(IoU). The clean photos, in the same three encodings, measure false positives. Everything
random follows ``--seed``.

A mosaic of a flat area (sky, a wall) has cells of nearly one colour, and cannot be told
from the area itself; extra rows summarise the cases whose neighbouring cells differ by at
least ``FLAT_STEP`` grey levels (median over the region, across and down) separately.

    python benchmarks/find_mosaic_iou.py                       # scikit-image's photos
    python benchmarks/find_mosaic_iou.py --photos DIR --seed 1  # a folder of photos
    python benchmarks/find_mosaic_iou.py --photos DIR --damage  # mosaics as they reach people

Photos from a folder are downscaled to at most 1024 px on their longer side.

``--damage`` measures mosaics after what happens to pictures on their way to a user, one
row per kind of damage (a random rectangle or ellipse mosaiced at a block of 8-20 px per
photo and kind): none; downscaled by 0.5-0.95 (INTER_AREA) or upscaled by 1.1-2.0
(bicubic) after the mosaic was made; rescaled then JPEG-encoded at quality 70-95, or 60-69;
the mosaic's edge feathered into the photo (a Gaussian of sigma = f / 2 for f of 1-8 px:
the band where alpha >= 0.05 belongs to the region); one x264 frame at CRF 23 (4:2:0);
and all of them together. The true mask is rescaled with the image (area-weighted,
>= 0.5). Pictures with no mosaic measure false finds, the share where anything is found:
the photos plain, rescaled, JPEG-encoded at 60-95 and as an x264 frame, and with each
look-alike pattern of :mod:`mosaicgan.data.finder` (checkerboard, tiles, bricks, pixel
art, screenshot) drawn over part of them. Each finder of ``--finders`` (the grid model
alone, the learned network alone, the two combined: the default) gets the same pictures;
the time per 1280x720 frame is the median over 8 photos, as a ratio against the grid
model in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from mosaicgan.data import finder as samples
from mosaicgan.find import find_mosaic
from mosaicgan.find.combined import find_regions
from mosaicgan.find.learned import find_learned
from mosaicgan.imageio import encode_jpeg, read_image
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask, ellipse_mask, iou
from mosaicgan.walk import list_images

sys.path.insert(0, os.path.dirname(__file__))
from common import machine_line, table

BLOCKS = (6, 8, 12, 16, 20, 24)
ENCODINGS = ("png", "jpeg90", "jpeg75")
MAX_SIDE = 1024
FLAT_STEP = 2.0  # median luma step between neighbouring cells below which a mosaic is flat


def skimage_photos() -> dict[str, np.ndarray]:
    """scikit-image's RGB photos (shipped with it, no download)."""
    from skimage import data

    names = ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field",
             "immunohistochemistry")
    photos = {name: getattr(data, name)() for name in names}
    photos["motorcycle_left"] = data.stereo_motorcycle()[0]
    return photos


def folder_photos(folder: Path) -> dict[str, np.ndarray]:
    """Every image in folder, RGB, downscaled to at most MAX_SIDE px."""
    photos = {}
    for path in list_images([folder]):
        img = read_image(path)
        scale = MAX_SIDE / max(img.shape[:2])
        if scale < 1:
            size = (round(img.shape[1] * scale), round(img.shape[0] * scale))
            img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))
        photos[path.name] = img
    return photos


def encode(image: np.ndarray, encoding: str) -> np.ndarray:
    return image if encoding == "png" else encode_jpeg(image, int(encoding[4:]))


def random_case(rng: np.random.Generator, image: np.ndarray, block: int):
    """A random rect/ellipse mask (H, W) and grid origin for one block size."""
    h, w = image.shape[:2]
    rw, rh = int(rng.integers(160, 301)), int(rng.integers(120, 221))
    if rng.random() < 0.5:
        rw, rh = rh, rw
    if min(rw, rh) < 8 * block:
        scale = 8 * block / min(rw, rh)
        rw, rh = round(rw * scale), round(rh * scale)
    rw, rh = min(rw, w - 4), min(rh, h - 4)
    box = (int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1)), rw, rh)
    shape = "rect" if rng.random() < 0.5 else "ellipse"
    mask = box_mask(h, w, box) if shape == "rect" else ellipse_mask(h, w, box)
    origin = (int(rng.integers(0, block)), int(rng.integers(0, block)))
    return mask, origin


def cell_contrast(mosaic: np.ndarray, mask: np.ndarray, block: int,
                  origin: tuple[int, int]) -> float:
    """Median luma step between neighbouring whole cells of a lossless mosaic (H, W, 3).

    The smaller of the medians across and down: a smooth vertical ramp (sky) gives steps
    down only, and stripes are no grid.
    """
    luma = mosaic.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    y0, x0 = origin[1] % block, origin[0] % block
    hc, wc = (luma.shape[0] - y0) // block, (luma.shape[1] - x0) // block
    cells = luma[y0:y0 + hc * block, x0:x0 + wc * block].reshape(hc, block, wc, block)
    inside = mask[y0:y0 + hc * block, x0:x0 + wc * block].reshape(hc, block, wc, block)
    inside = inside.all(axis=(1, 3))
    means = cells.mean(axis=(1, 3))
    steps = [np.abs(np.diff(means, axis=1))[inside[:, 1:] & inside[:, :-1]],
             np.abs(np.diff(means, axis=0))[inside[1:] & inside[:-1]]]
    return min(float(np.median(s)) if len(s) else 0.0 for s in steps)


def run(photos: dict[str, np.ndarray], seed: int) -> str:
    """Run the benchmark; return the report as text."""
    ious: dict[tuple[int, str], list[float]] = {}
    textured: dict[str, list[float]] = {}
    times = []
    for name, image in photos.items():
        for block in BLOCKS:
            for encoding in ENCODINGS:
                # a generator per case: adding photos or blocks leaves the others alone
                rng = np.random.default_rng([seed, zlib.crc32(name.encode()), block,
                                             ENCODINGS.index(encoding)])
                mask, origin = random_case(rng, image, block)
                lossless = pixelate_array(image, mask, block, origin)
                mosaic = encode(lossless, encoding)
                start = time.perf_counter()
                found = find_mosaic(mosaic)
                times.append(time.perf_counter() - start)
                score = iou(found, mask)
                ious.setdefault((block, encoding), []).append(score)
                if cell_contrast(lossless, mask, block, origin) >= FLAT_STEP:
                    textured.setdefault(encoding, []).append(score)
    false_pos: dict[str, list[float]] = {}
    for image in photos.values():
        for encoding in ENCODINGS:
            clean = encode(image, encoding)
            start = time.perf_counter()
            found = find_mosaic(clean)
            times.append(time.perf_counter() - start)
            false_pos.setdefault(encoding, []).append(float(found.mean()))

    lines = [f"{len(photos)} photos, seed {seed}", "",
             f"{'block':>5} {'encoding':>8} {'mean IoU':>9} {'min IoU':>8} {'n':>4} "
             f"{'IoU>=0.9':>9}"]
    for (block, encoding), values in ious.items():
        v = np.array(values)
        lines.append(f"{block:>5} {encoding:>8} {v.mean():>9.3f} {v.min():>8.3f} {len(v):>4} "
                     f"{(v >= 0.9).mean():>9.0%}")
    every = np.concatenate([np.array(v) for v in ious.values()])
    lines.append(f"{'all':>5} {'':>8} {every.mean():>9.3f} {every.min():>8.3f} "
                 f"{len(every):>4} {(every >= 0.9).mean():>9.0%}")
    lines += ["", f"cases whose cells differ by >= {FLAT_STEP:g} grey levels (median, "
                  "across and down):"]
    for encoding, values in textured.items():
        v = np.array(values)
        lines.append(f"{'all':>5} {encoding:>8} {v.mean():>9.3f} {v.min():>8.3f} {len(v):>4} "
                     f"{(v >= 0.9).mean():>9.0%}")
    lines += ["", "false positives on clean photos:",
              f"{'encoding':>8} {'any region':>11} {'>0.5% area':>11} {'mean area':>10} "
              f"{'n':>4}"]
    for encoding, fractions in false_pos.items():
        f = np.array(fractions)
        lines.append(f"{encoding:>8} {(f > 0).mean():>11.0%} {(f > 0.005).mean():>11.0%} "
                     f"{f.mean():>10.4%} {len(f):>4}")
    lines += ["", f"mean time per image: {1000 * np.mean(times):.0f} ms "
                  f"({len(times)} calls)"]
    return "\n".join(lines)


DAMAGES = ("none", "downscaled", "upscaled", "rescaled + JPEG 70-95", "rescaled + JPEG 60-69",
           "feathered", "x264 CRF 23", "all together")
NEGATIVES = ("plain", "rescaled", "JPEG 60-95", "x264 CRF 23", *samples.LOOKALIKES)
FINDERS = {"grid": find_mosaic, "learned": find_learned,
           "combined": lambda image: find_regions(image).mask}
FRAME = (1280, 720)  # the size the time per frame is measured at


def damaged(image: np.ndarray, damage: str, rng: np.random.Generator
            ) -> tuple[np.ndarray, np.ndarray]:
    """A mosaic of ``image`` with ``damage`` done to it, and its true mask."""
    block = int(rng.integers(8, 21))
    mask, origin = random_case(rng, image, block)
    mosaic = pixelate_array(image, mask, block, origin)
    truth = mask
    if damage in ("feathered", "all together"):
        mosaic, truth = samples.feather(image, mosaic, mask, float(rng.uniform(1, 8)))
    if damage not in ("none", "feathered", "x264 CRF 23"):
        if damage == "downscaled" or (damage != "upscaled" and rng.random() < 0.5):
            factor = float(rng.uniform(0.5, 0.95))
        else:
            factor = float(rng.uniform(1.1, 2.0))
        mosaic, truth = samples.rescale(mosaic, truth, factor)
    if "JPEG" in damage or damage == "all together":
        low, high = (60, 69) if "60-69" in damage else (70, 95)
        mosaic = encode_jpeg(mosaic, int(rng.integers(low, high + 1)))
    if damage == "x264 CRF 23":
        mosaic = samples.x264_frame(mosaic, 23)
    return mosaic, truth


def negative(image: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """A picture with no mosaic: the photo damaged, or with a pattern drawn over part."""
    if kind == "plain":
        return image
    if kind == "rescaled":
        factor = float(rng.choice([rng.uniform(0.5, 0.95), rng.uniform(1.1, 2.0)]))
        return samples.rescale(image, np.zeros(image.shape[:2], bool), factor)[0]
    if kind == "JPEG 60-95":
        return encode_jpeg(image, int(rng.integers(60, 96)))
    if kind == "x264 CRF 23":
        return samples.x264_frame(image, 23)
    h, w = image.shape[:2]
    where = samples.random_shape(rng, (h, w), min(h, w) // 3)
    pattern = samples.lookalike(rng, kind, (h, w))
    return encode_jpeg(np.where(where[..., None], pattern, image), 90)


def frame_times(photos: dict[str, np.ndarray], finders: list[str], seed: int,
                count: int = 8) -> dict[str, float]:
    """Median ms per 1280x720 frame (a photo resized, one mosaic) for each finder."""
    times: dict[str, list[float]] = {f: [] for f in finders}
    for k, (name, image) in enumerate(list(photos.items())[:count]):
        frame = cv2.resize(image, FRAME, interpolation=cv2.INTER_AREA)
        rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 300])
        mosaic, _ = damaged(frame, "none", rng)
        for finder in finders:
            if k == 0:
                FINDERS[finder](mosaic)  # warm: the network loads once, at this size
            start = time.perf_counter()
            FINDERS[finder](mosaic)
            times[finder].append(time.perf_counter() - start)
    return {f: 1000 * float(np.median(v)) for f, v in times.items()}


def run_damage(photos: dict[str, np.ndarray], seed: int, finders: list[str]) -> str:
    """The --damage report: mean IoU per kind of damage and finder, false finds on clean
    pictures per kind, and the time per 1280x720 frame."""
    ious: dict[tuple[str, str], list[float]] = {(d, f): [] for d in DAMAGES for f in finders}
    for name, image in photos.items():
        for k, damage in enumerate(DAMAGES):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 100 + k])
            mosaic, truth = damaged(image, damage, rng)
            for finder in finders:
                ious[damage, finder].append(iou(FINDERS[finder](mosaic), truth))
    alarms: dict[tuple[str, str], list[bool]] = {(n, f): [] for n in NEGATIVES for f in finders}
    for name, image in photos.items():
        for k, kind in enumerate(NEGATIVES):
            rng = np.random.default_rng([seed, zlib.crc32(name.encode()), 200 + k])
            view = negative(image, kind, rng)
            for finder in finders:
                alarms[kind, finder].append(bool(FINDERS[finder](view).any()))
    iou_rows = [[d] + [f"{np.mean(ious[d, f]):.3f} ({np.mean(np.array(ious[d, f]) >= 0.9):.0%})"
                       for f in finders] for d in DAMAGES]
    alarm_rows = [[n] + [f"{np.mean(alarms[n, f]):.1%}" for f in finders] for n in NEGATIVES]
    ms = frame_times(photos, finders, seed)
    base = ms.get("grid", next(iter(ms.values())))
    time_rows = [[f, f"{ms[f]:.0f}", f"{base / ms[f]:.2f}x"] for f in finders]
    return "\n".join([
        machine_line(), f"{len(photos)} photos, seed {seed}, block 8-20", "",
        "mean IoU (share of cases with IoU >= 0.9):",
        table(["damage", *finders], iou_rows), "",
        "pictures with no mosaic where anything is found:",
        table(["clean", *finders], alarm_rows), "",
        f"time per {FRAME[0]}x{FRAME[1]} frame, median of {min(8, len(photos))} "
        "(one mosaic each):",
        table(["finder", "ms", "speed vs grid"], time_rows)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, action="append", default=None,
                        help="folder of photos, repeatable (default: scikit-image's photos)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--damage", action="store_true",
                        help="mosaics rescaled, re-encoded and feathered (see above)")
    parser.add_argument("--finders", default="grid,learned,combined",
                        help="with --damage: finders compared side by side, of "
                             "grid (the grid model alone), learned, combined (the default)")
    args = parser.parse_args()
    photos = skimage_photos() if args.photos is None else \
        {f"{p.name}/{k}": v for p in args.photos for k, v in folder_photos(p).items()}
    finders = args.finders.split(",")
    unknown = set(finders) - set(FINDERS)
    if unknown:
        parser.error(f"unknown finder(s) {sorted(unknown)}; choose from {sorted(FINDERS)}")
    print(run_damage(photos, args.seed, finders) if args.damage else run(photos, args.seed))


if __name__ == "__main__":
    main()
