"""Peak memory of hiding one box of a large photo: today's whole-image code against the
region-local code, in the same run, in bytes per pixel above the decoded image.

    .venv/bin/python benchmarks/memory.py [--megapixels 40] [--jobs mosaic,blur,solid,restore]

Each (job, code) runs in a fresh process: a bundled photo (scikit-image's coffee) scaled
to the size asked, a 300x200 box at a third of the way in; the process's peak resident
memory (VmHWM, reset once the image is decoded) is read after the job. ``today`` is the
code as it was before issue 22 (copied below as ``baseline_...``: each cell's mean over
the whole image in float64); ``new`` is mosaicgan's. ``restore`` (new code only: its
baseline is the image's crop, see benchmarks/region_cost.py) restores the box with
``--mask`` semantics on the shipped model; it is the figure mosaicgan.limits divides the
machine's memory by.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

BOX = (300, 200)  # w, h of the box hidden


# --- today's code (mosaicgan.mosaic before issue 22), the baseline ------------------------

def baseline_component_masks(mask: np.ndarray) -> list:
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    order = sorted(range(1, count), key=lambda i: -stats[i, cv2.CC_STAT_AREA])
    return [(tuple(int(v) for v in stats[i, :4]), labels == i) for i in order]


def baseline_pixelate_array(image: np.ndarray, mask: np.ndarray, block: int,
                            origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    import torch

    from mosaicgan.mosaic import pixelate

    img = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None]
    out = pixelate(img, m, block, origin)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def baseline_mosaic_image(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    from mosaicgan.mosaic import default_block

    out = image.copy()
    for (x, y, w, h), region in baseline_component_masks(mask):
        out = baseline_pixelate_array(out, region, default_block(w, h), (x, y))
    return out


def baseline_blur_array(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    import cv2

    ys, xs = np.nonzero(mask)
    sigma = max(3.0, max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 10)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)
    return np.where(mask[..., None], blurred, image)


def baseline_solid_array(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = image.copy()
    out[mask] = np.asarray((0, 0, 0), np.uint8)
    return out


# --- one measurement, in a child process --------------------------------------------------

def _peak_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux: the peak resident size starts again from the current one


def child(job: str, code: str, width: int, height: int) -> None:
    import cv2
    import skimage.data

    from mosaicgan import mosaic
    from mosaicgan.regions.masks import box_mask

    restorer = None
    if job == "restore":
        from mosaicgan.models.restorer import load_restorer

        restorer = load_restorer(device="cpu")
    image = cv2.resize(skimage.data.coffee(), (width, height), interpolation=cv2.INTER_CUBIC)
    box = (width // 3, height // 3, *BOX)
    mask = box_mask(height, width, box)
    if job == "restore":
        image = mosaic.mosaic_image(image, mask)
        x, y = box[0] - 700, box[1] - 700  # first-call costs (the backend's choice), on a crop
        restorer.restore(image[y:y + 1600, x:x + 1700], mask[y:y + 1600, x:x + 1700])
    fn = {("mosaic", "today"): baseline_mosaic_image, ("mosaic", "new"): mosaic.mosaic_image,
          ("blur", "today"): baseline_blur_array, ("blur", "new"): mosaic.blur_array,
          ("solid", "today"): baseline_solid_array, ("solid", "new"): mosaic.solid_array,
          ("restore", "new"): lambda im, m: restorer.restore(im, m).image}[job, code]
    _reset_peak()
    before = _peak_bytes()
    fn(image, mask)
    print((_peak_bytes() - before) / (width * height))


def measure(job: str, code: str, width: int, height: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", job, code, str(width),
                          str(height)], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megapixels", type=float, default=40.0)
    parser.add_argument("--jobs", default="mosaic,blur,solid,restore")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        job, code, width, height = args.child
        child(job, code, int(width), int(height))
        return
    from common import machine_line, table

    height = round((args.megapixels * 1e6 * 2 / 3) ** 0.5)
    width = round(height * 3 / 2)
    rows = []
    for job in args.jobs.split(","):
        new = measure(job, "new", width, height)
        today = measure(job, "today", width, height) if job != "restore" else None
        rows.append([f"{width}x{height}", job, "-" if today is None else f"{today:.2f}",
                     f"{new:.2f}", "-" if today is None else f"{today / max(new, 1e-9):.0f}x"])
    print(machine_line())
    print(f"a {BOX[0]}x{BOX[1]} box of a {width * height / 1e6:.1f} MP photo; peak resident "
          "memory above the decoded image (and mask), bytes per pixel of the image")
    print(table(["image", "job", "today B/px", "new B/px", "today / new"], rows))


if __name__ == "__main__":
    main()
