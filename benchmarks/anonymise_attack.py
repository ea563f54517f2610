"""Can ``--where face``'s mosaic or blur be undone? Attacked with this project's restorer.

    python benchmarks/anonymise_attack.py [--cells 4,6,8,12,16] [--sigmas 0.05,0.1,0.2]

Real faces that scikit-image ships (the astronaut, the cameraman, faces of its LFW subset,
upscaled) are pasted at face widths of 64, 128 and 256 px into a face-free photo
(scikit-image's coffee, 1024 px). Each is hidden as ``--where face`` hides it (its box as
``find_faces`` grows it), with a mosaic of N cells across the face's box, or a blur of
sigma = a fraction of the face's size; then attacked:

- **native**: the shipped restorer (the sharpest point of its dial, the strongest
  attacker here) on the mosaic as it is, told the grid;
- **rescaled**: the image first scaled so the cells are 12 px (a block size the restorer
  was trained on), restored, and scaled back: what an attacker would do with a large face;
- for the blur: the blurred image as it is, and the restorer on it.

The restorer runs UNGATED, through its private generation path, in this benchmark only
(nothing public returns ungated pixels). A face counts as recovered when the safety gate
(``screen_region`` on the restored region) says "face". Only faces the gate sees in the
clean photo are attacked. The default block and sigma
(:mod:`mosaicgan.regions.strength`) are the largest N and smallest fraction at which no
face was recovered, with a step of margin.
"""

from __future__ import annotations

import argparse
import os
import sys

import cv2
import numpy as np

from mosaicgan import safety
from mosaicgan.detect.base import same_object, shifted
from mosaicgan.detect.shared import shared_detector
from mosaicgan.find import CellGrid
from mosaicgan.geometry import context_box
from mosaicgan.models.restorer import load_restorer
from mosaicgan.mosaic import blur_array, mosaic_image
from mosaicgan.regions.detectors import find_faces
from mosaicgan.regions.strength import face_block, face_sigma

sys.path.insert(0, os.path.dirname(__file__))
from common import machine_line, table
from face_recall import ASTRONAUT_FACE, CAMERAMAN_FACE, LFW_FACE
from ungated import ungated

SIZES = (64, 128, 256)
ATTACK_BLOCK = 12  # the rescaled attack's cell size (the restorer trained on 6-24 px)


def faces(lfw: int, sizes: tuple[int, ...] = SIZES
          ) -> list[tuple[str, np.ndarray, tuple[int, int, int, int]]]:
    """(name, image, face box): each face pasted into the coffee photo at each size."""
    import skimage.data

    sources = [("astronaut", skimage.data.astronaut(), ASTRONAUT_FACE),
               ("cameraman", np.repeat(skimage.data.camera()[..., None], 3, 2), CAMERAMAN_FACE)]
    crops = (skimage.data.lfw_subset()[:lfw] * 255).round().astype(np.uint8)
    sources += [(f"lfw{i}", np.repeat(c[..., None], 3, 2), LFW_FACE) for i, c in enumerate(crops)]
    background = cv2.resize(skimage.data.coffee(), (1024, 768), interpolation=cv2.INTER_CUBIC)
    out = []
    for name, src, (fx, fy, fw, fh) in sources:
        for width in sizes:
            s = width / fw
            # The face with half a face around it (the head), scaled.
            x0, y0 = max(0, round(fx - fw / 2)), max(0, round(fy - fh / 2))
            x1 = min(src.shape[1], round(fx + 1.5 * fw))
            y1 = min(src.shape[0], round(fy + 1.5 * fh))
            part = cv2.resize(src[y0:y1, x0:x1], (round((x1 - x0) * s), round((y1 - y0) * s)),
                              interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            image = background.copy()
            px, py = 700 - part.shape[1] // 2, 400 - part.shape[0] // 2  # off-centre
            image[py:py + part.shape[0], px:px + part.shape[1]] = part
            face = (px + round((fx - x0) * s), py + round((fy - y0) * s), round(fw * s),
                    round(fh * s))
            out.append((f"{name}@{width}", image, face))
    return out


def rescaled_attack(restorer, image: np.ndarray, mask: np.ndarray, block: int,
                    origin: tuple[int, int]) -> np.ndarray:
    """Scale so the cells are ATTACK_BLOCK px, restore ungated, scale back into the mask."""
    f = ATTACK_BLOCK / block
    if f >= 1:
        return ungated(restorer, image, mask, CellGrid.integer_grid(block, origin))
    height, width = image.shape[:2]
    size = (round(width * f), round(height * f))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    grid = CellGrid((block * size[0] / width, block * size[1] / height),
                    (origin[0] * size[0] / width, origin[1] * size[1] / height))
    restored = ungated(restorer, small, small_mask, grid)
    back = cv2.resize(restored, (width, height), interpolation=cv2.INTER_CUBIC)
    return np.where(mask[..., None], back, image)


def recovered(image: np.ndarray, face) -> bool:
    """Whether the gate's detector (verified, at the gate's scores) finds the face: a face
    detection on the same object as the face box, looking at the face grown 3x (the
    gate's middle context) at its own scale."""
    height, width = image.shape[:2]
    cx, cy, cw, ch = context_box(face, width, height, 3.0)
    crop = np.ascontiguousarray(image[cy:cy + ch, cx:cx + cw])
    found = [d.box for d in shifted(shared_detector().detect(crop), cx, cy)
             if safety.is_face(d)]
    return any(same_object(b, face, 0.3) for b in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", default="4,6,8,12,16")
    parser.add_argument("--sigmas", default="0.05,0.1,0.15,0.25")
    parser.add_argument("--lfw", type=int, default=6, help="LFW faces besides the two photos")
    parser.add_argument("--sharpness", type=float, default=1.0)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="face widths, px")
    parser.add_argument("--attacks", default="as is,native,rescaled,restorer",
                        help="which attacks to run (as is: the mosaic or blur itself)")
    args = parser.parse_args()
    print(machine_line())
    restorer = load_restorer("default", "cpu", args.sharpness)
    cells = [int(v) for v in args.cells.split(",") if v]
    sigmas = [float(v) for v in args.sigmas.split(",") if v]
    counts: dict[tuple[str, str], list[int]] = {}

    def note(row: str, attack: str, size: int, hit: bool) -> None:
        print(f"  {row}, {attack}: {'FOUND' if hit else 'not found'}", flush=True)
        c = counts.setdefault((row, attack), [0] * (2 * len(sizes)))
        i = 2 * sizes.index(size)
        c[i] += hit
        c[i + 1] += 1

    skipped = []
    sizes = tuple(int(v) for v in args.sizes.split(","))
    attacks = args.attacks.split(",")
    for name, clean, face in faces(args.lfw, sizes):
        size = int(name.split("@")[1])
        if not recovered(clean, face):  # not seen clean: nothing to attack
            skipped.append(name)
            continue
        regions = find_faces(clean)
        region = max(regions.boxes, key=lambda b: b[2] * b[3])
        ys, xs = np.nonzero(regions.mask)
        origin = (int(xs.min()), int(ys.min()))
        for n in cells:
            block = face_block(region, cells=n)
            hidden = mosaic_image(clean, regions.mask, block)
            grid = CellGrid.integer_grid(block, origin)
            if "as is" in attacks:
                note(f"mosaic {n} cells", "as is", size, recovered(hidden, face))
            if "native" in attacks:
                native = ungated(restorer, hidden, regions.mask, grid)
                note(f"mosaic {n} cells", "native", size, recovered(native, face))
            if "rescaled" in attacks:
                scaled = rescaled_attack(restorer, hidden, regions.mask, block, origin)
                note(f"mosaic {n} cells", "rescaled", size, recovered(scaled, face))
        for fraction in sigmas:
            hidden = blur_array(clean, regions.mask, face_sigma(region, fraction=fraction))
            if "as is" in attacks:
                note(f"blur {fraction:g} x face", "as is", size, recovered(hidden, face))
            if "restorer" in attacks:
                attacked = ungated(restorer, hidden, regions.mask, None)
                note(f"blur {fraction:g} x face", "restorer", size, recovered(attacked, face))
        print(f"done: {name}", flush=True)
    rows = [[row, attack, *(f"{c[i]}/{c[i + 1]}" for i in range(0, len(c), 2)),
             f"{sum(c[::2])}/{sum(c[1::2])}"] for (row, attack), c in counts.items()]
    print(table(["hidden with", "attack", *(f"face {s} px" for s in sizes), "all"], rows))
    print(f"each cell: faces the gate's detector finds after the attack / faces attacked; "
          f"sharpness {args.sharpness:g}; not seen clean, not attacked: {skipped or 'none'}")


if __name__ == "__main__":
    main()
