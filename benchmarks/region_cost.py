"""What restoring one region costs on a large photo against restoring its crop alone, in
the same run: the cost should follow the region, not the image (issue 22).

    .venv/bin/python benchmarks/region_cost.py [--size 6000x4000] [--rounds 3]

A bundled photo (scikit-image's coffee) is scaled to ``--size`` and a 300x200 box is
mosaiced (block 16) at a third of the way in; it is restored as ``mosaicgan restore
--mask`` does (the grid found, the shipped model, the safety gate), on the whole photo
and on a 1500x1400 crop around it (which holds everything restoring the region reads, so
both give the same pixels: checked). The calls alternate; the table gives the median
seconds and the ratio to the crop. File reading and writing are not timed.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, machine_line, table, wait_for_quiet

from mosaicgan.models.restorer import load_restorer
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask


def main() -> None:
    import cv2
    import skimage.data

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="6000x4000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    image = cv2.resize(skimage.data.coffee(), (width, height), interpolation=cv2.INTER_CUBIC)
    x, y = width // 3, height // 3
    mask = box_mask(height, width, (x, y, 300, 200))
    image = pixelate_array(image, mask, 16, (x, y))
    x0, y0 = max(0, x - 600), max(0, y - 600)
    crop = (slice(y0, y0 + 1400), slice(x0, x0 + 1500))
    crop_image, crop_mask = image[crop].copy(), mask[crop].copy()
    restorer = load_restorer(device="cpu")
    quiet = wait_for_quiet()
    small = restorer.restore(crop_image, crop_mask)  # first-call costs (the backend's choice)
    big = restorer.restore(image, mask)
    same = np.array_equal(big.image[crop], small.image)
    with NoiseMeter() as noise:
        median = alternate({"crop": lambda: restorer.restore(crop_image, crop_mask),
                            "photo": lambda: restorer.restore(image, mask)}, args.rounds)
    print(machine_line())
    start = "quiet at start" if quiet else "NOT quiet at start"
    print(f"one 300x200 region, {args.rounds} rounds; {start}; {noise.verdict()}; "
          f"same pixels as the crop's: {'yes' if same else 'NO'}")
    rows = [[f"{crop_image.shape[1]}x{crop_image.shape[0]} crop", f"{median['crop']:.2f}",
             "1.00x"],
            [f"{width}x{height} photo", f"{median['photo']:.2f}",
             f"{median['photo'] / median['crop']:.2f}x"]]
    print(table(["restore of", "seconds (median)", "vs crop"], rows))


if __name__ == "__main__":
    main()
