"""What a restore costs: restoring a 1024x768 photo with each model (and each point of a
model's sharpness dial), against the first in the same run.

    .venv/bin/python benchmarks/sharpness_cost.py [--sharpness 0,0.5,1] [--rounds 5]
    .venv/bin/python benchmarks/sharpness_cost.py --model default,RUN --sharpness 0.5

``--model`` is a comma-separated list (``default``: the shipped model; a run folder or
model JSON, e.g. a cell restorer's run); a model with a sharpness dial is timed at each
``--sharpness``, one without it as it was trained. The weights are interpolated once,
when the restorer loads (timed apart); each restore then runs the one generator. A
bundled photo (scikit-image's coffee, no face) is scaled to 1024x768 and mosaiced in two
regions; the mosaics' grids are given, as eval does.
Restorers alternate call by call; the table gives the load time, the median seconds per
restore and the ratio to the first row, and the same for the generator's share of each
restore (its network on the regions' windows; the rest is planning, paste, cell matching
and the safety gate, the same for every model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, machine_line, table, wait_for_quiet

from mosaicgan.find import CellGrid
from mosaicgan.models.restorer import load_restorer
from mosaicgan.models.sharpness import has_dial
from mosaicgan.mosaic import pixelate_array
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


def timed_generator(restorer) -> list[float]:
    """Record the seconds of each call of the restorer's generator step (its network on the
    plans' windows, ungated: the output is only passed on, as restore does)."""
    times: list[float] = []
    inner = restorer._generated

    def generated(*args, **kwargs):
        t0 = time.perf_counter()
        out = inner(*args, **kwargs)
        times.append(time.perf_counter() - t0)
        return out

    restorer._generated = generated
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sharpness", default="0,0.5,1")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--model", default="default",
                        help="comma-separated models, the first is the baseline")
    args = parser.parse_args()
    values = [float(v) for v in args.sharpness.split(",")]
    points = [(m, v) for m in dict.fromkeys(args.model.split(","))
              for v in (values if has_dial(m) else [None])]
    quiet = wait_for_quiet()
    image, mask, grids = mosaiced_photo()
    restorers, loads, generator_times = {}, {}, {}
    with NoiseMeter() as noise:
        for model, value in points:
            label = model if value is None else f"{model} @ {value:g}"
            t0 = time.perf_counter()
            restorers[label] = load_restorer(model, device="cpu", sharpness=value)
            loads[label] = time.perf_counter() - t0
            restorers[label].restore(image, mask, grids)  # backend choice, first-call costs
            generator_times[label] = timed_generator(restorers[label])
        median = alternate({label: (lambda r=r: r.restore(image, mask, grids))
                            for label, r in restorers.items()}, args.rounds)
    first = next(iter(restorers))
    generator = {label: statistics.median(ts) for label, ts in generator_times.items()}
    rows = [[label, f"{loads[label]:.2f}", f"{median[label]:.3f}",
             f"{median[label] / median[first]:.2f}x", f"{generator[label]:.3f}",
             f"{generator[label] / generator[first]:.2f}x"] for label in restorers]
    print(machine_line())
    print(f"1024x768 photo, 2 mosaiced regions (block 12), {args.rounds} rounds; "
          f"{'quiet at start' if quiet else 'NOT quiet at start'}; {noise.verdict()}")
    print(table(["model", "load s", "restore s (median)", f"vs {first}", "generator s",
                 f"generator vs {first}"], rows))


if __name__ == "__main__":
    main()
