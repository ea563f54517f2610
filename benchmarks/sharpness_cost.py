"""What the sharpness dial costs: restoring a 1024x768 photo at each sharpness, against
sharpness 0 (the faithful model alone) in the same run.

    .venv/bin/python benchmarks/sharpness_cost.py [--sharpness 0,0.5,1] [--rounds 5]

The weights are interpolated once, when the restorer loads (timed apart); each restore
then runs the one generator. A bundled photo (scikit-image's coffee, no face) is scaled
to 1024x768 and mosaiced in two regions; the mosaics' grids are given, as eval does.
Restorers alternate call by call; the table gives the load time, the median seconds per
restore and the ratio to sharpness 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, machine_line, table, wait_for_quiet

from mosaicgan.models.restorer import load_restorer
from mosaicgan.mosaic import pixelate_array
from mosaicgan.pitch import CellGrid
from mosaicgan.regions.masks import box_mask


def mosaiced_photo(block: int = 12) -> tuple[np.ndarray, np.ndarray, list]:
    import cv2
    import skimage.data

    image = cv2.resize(skimage.data.coffee(), (1024, 768), interpolation=cv2.INTER_CUBIC)
    boxes = [(120, 96, 240, 180), (600, 420, 300, 228)]
    mask = np.zeros((768, 1024), bool)
    grids = []
    for x, y, w, h in boxes:
        region = box_mask(768, 1024, (x, y, w, h))
        image = pixelate_array(image, region, block, (x, y))
        mask |= region
        grids.append((region, CellGrid.integer_grid(block, (x, y))))
    return image, mask, grids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sharpness", default="0,0.5,1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    values = [float(v) for v in args.sharpness.split(",")]
    quiet = wait_for_quiet()
    image, mask, grids = mosaiced_photo()
    restorers, loads = {}, {}
    with NoiseMeter() as noise:
        for value in values:
            t0 = time.perf_counter()
            restorers[value] = load_restorer(args.model, device="cpu", sharpness=value)
            loads[value] = time.perf_counter() - t0
            restorers[value].restore(image, mask, grids)  # backend choice, first-call costs
        median = alternate({f"{v:g}": (lambda r=r: r.restore(image, mask, grids))
                            for v, r in restorers.items()}, args.rounds)
    base = median[f"{values[0]:g}"]
    rows = [[f"{v:g}", f"{loads[v]:.2f}", f"{median[f'{v:g}']:.3f}",
             f"{median[f'{v:g}'] / base:.2f}x"] for v in values]
    print(machine_line())
    print(f"1024x768 photo, 2 mosaiced regions (block 12), {args.rounds} rounds; "
          f"{'quiet at start' if quiet else 'NOT quiet at start'}; {noise.verdict()}")
    print(table(["sharpness", "load s", "restore s (median)", f"vs {values[0]:g}"], rows))


if __name__ == "__main__":
    main()
