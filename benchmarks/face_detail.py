"""How much detail a translated face shows that its input did not: the measure behind the
translation rule (``mosaicgan.safety_detail``), on real faces.

    python benchmarks/face_detail.py [--lfw-scale 2]

Faces: scikit-image's astronaut (her face box) and its 100 LFW faces (grey 25 px crops,
enlarged ``--lfw-scale`` times onto a grey canvas). The output is always the clean face;
the input is that face as it was, JPEG'd, resized x0.8 (must count as shown), or hidden
by the project's own mosaic (default block, half, double), blur (default sigma, half,
quarter), a solid fill or a x0.25 downscale (must count as hidden). Prints, per case, the
fraction of the output's detail that is new (min / median / max) and how many faces the
rule refuses; and the face's own detail (what the unpaired rule calls blurred).
"""

from __future__ import annotations

import argparse
import collections

import cv2
import numpy as np
import skimage.data

from mosaicgan.imageio import encode_jpeg
from mosaicgan.mosaic import blur_array, default_block, mosaic_image, solid_array
from mosaicgan.safety_detail import face_detail, new_detail, shows_more_detail

SHOWN = ("same", "jpeg75", "jpeg50", "x0.8")


def faces(lfw_scale: int) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
    out = [(skimage.data.astronaut(), (173, 82, 102, 98))]
    n = 25 * lfw_scale
    margin = n // 10
    for face in skimage.data.lfw_subset()[:100]:  # the first 100 are faces, then non-faces
        grey = cv2.resize((face * 255).round().astype(np.uint8), (n, n),
                          interpolation=cv2.INTER_CUBIC)
        canvas = np.full((3 * n, 3 * n, 3), 120, np.uint8)
        canvas[n:2 * n, n:2 * n] = grey[..., None]
        out.append((canvas, (n + margin, n + margin, n - 2 * margin, n - 2 * margin)))
    return out


def variants(image: np.ndarray, box) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (input, the clean output at the input's scale or not)."""
    x, y, w, h = box
    height, width = image.shape[:2]
    mask = np.zeros((height, width), bool)
    mask[y:y + h, x:x + w] = True
    block = default_block(w, h)
    sigma = max(3.0, max(w, h) / 10)  # blur_array's default
    small = cv2.resize(image, (round(width * 0.8), round(height * 0.8)),
                       interpolation=cv2.INTER_AREA)
    down = cv2.resize(cv2.resize(image, (width // 4, height // 4), interpolation=cv2.INTER_AREA),
                      (width, height), interpolation=cv2.INTER_CUBIC)
    return {
        "same": image, "jpeg75": encode_jpeg(image, 75), "jpeg50": encode_jpeg(image, 50),
        "x0.8": small,
        "mosaic": mosaic_image(image, mask, block),
        "mosaic/2": mosaic_image(image, mask, max(2, block // 2)),
        "mosaic*2": mosaic_image(image, mask, 2 * block),
        "blur": blur_array(image, mask), "blur/2": blur_array(image, mask, sigma / 2),
        "blur/4": blur_array(image, mask, sigma / 4),
        "solid": solid_array(image, mask),
        "down/4": np.where(mask[..., None], down, image),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lfw-scale", type=int, default=2)
    args = parser.parse_args()
    new: dict[str, list[float]] = collections.defaultdict(list)
    refused: dict[str, int] = collections.Counter()
    own: dict[str, list[float]] = collections.defaultdict(list)
    count = 0
    for image, box in faces(args.lfw_scale):
        count += 1
        for name, source in variants(image, box).items():
            new[name].append(new_detail(source, image, box)[0])
            refused[name] += shows_more_detail(source, image, box)
            if source.shape == image.shape:
                own[name].append(face_detail(source, box))
    print(f"{count} faces (astronaut + LFW x{args.lfw_scale}); output = the clean face")
    print("| input | should count as | new detail min / median / max | refused | "
          "own detail min / median |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in new.items():
        v = np.asarray(values)
        mine = np.asarray(own.get(name, [np.nan]))
        print(f"| {name} | {'shown' if name in SHOWN else 'hidden'} | {v.min():.2f} / "
              f"{np.median(v):.2f} / {v.max():.2f} | {refused[name]}/{count} | "
              f"{mine.min():.2f} / {np.median(mine):.2f} |")


if __name__ == "__main__":
    main()
