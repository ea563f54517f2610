"""Regions the safety gate refuses on face-free photos: random regions mosaiced, restored
by the shipped model, gated (used by face_recall.py --refusals)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mosaicgan import safety
from mosaicgan.find import CellGrid
from mosaicgan.imageio import read_image
from mosaicgan.models.restorer import load_restorer
from mosaicgan.mosaic import pixelate_array
from mosaicgan.regions.masks import box_mask, random_region

SIDE = 768  # as mosaicgan eval scales its photos
BLOCKS = (8, 12, 16)
CAT_BOX = (0.06, 0.30, 0.28, 0.45)  # the demo's box on chelsea (mosaicgan.jobs.demo)


def refusal_rows(setup: str, photos: Path, labels: dict, sets: list[str], per_image: int,
                 seed: int, max_photos: int = 0) -> list[list[str]]:
    restorer = load_restorer("default", "cpu")
    rows = []
    for set_name in sets:
        names = sorted(k for k, v in labels.items() if k.startswith(f"{set_name}/")
                       and not v["faces"])
        names = names[:max_photos] if max_photos else names
        count, face, nudity, ignored, refused = 0, 0, 0, 0, 0
        for i, name in enumerate(names):
            image = read_image(photos / name)
            scale = min(1.0, SIDE / max(image.shape[:2]))
            if scale < 1:
                image = cv2.resize(image, (round(image.shape[1] * scale),
                                           round(image.shape[0] * scale)),
                                   interpolation=cv2.INTER_AREA)
            ignore = [tuple(round(v * scale) for v in b) for b in labels[name]["ignore"]]
            rng = np.random.default_rng([seed, i])
            h, w = image.shape[:2]
            for k in range(per_image):
                mask = random_region(rng, h, w, area=(0.03, 0.15))[2]
                ys, xs = np.nonzero(mask)
                block = BLOCKS[k % len(BLOCKS)]
                origin = (int(xs.min() + rng.integers(0, block)),
                          int(ys.min() + rng.integers(0, block)))
                mosaic = pixelate_array(image, mask, block, origin)
                result = restorer.restore(mosaic, mask,
                                          [(mask, CellGrid.integer_grid(block, origin))])
                for r in result.regions:
                    count += 1
                    if r.reasons:
                        refused += 1
                        face += "face" in r.reasons
                        nudity += "nudity" in r.reasons
                        ignored += any(safety.boxes_overlap(r.box, b) for b in ignore)
                        print(f"refused: {name} #{k} {r.reasons}", flush=True)
        rows.append([setup, f"{set_name} ({len(names)})", str(count), str(refused), str(face),
                     str(nudity), str(ignored), f"{100 * refused / max(count, 1):.1f}%"])
        print(f"done: {setup} {set_name}", flush=True)
    rows.append([setup, "demo cat", "1", str(int(bool(demo_cat_refused(restorer)))),
                 "", "", "", ""])
    return rows


def demo_cat_refused(restorer) -> list[str]:
    import skimage.data
    from PIL import Image

    image = skimage.data.chelsea()
    scale = 384 / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    image = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
    h, w = image.shape[:2]
    x, y, bw, bh = CAT_BOX
    box = (round(x * w), round(y * h), round(bw * w), round(bh * h))
    mask = box_mask(h, w, box)
    mosaic = pixelate_array(image, mask, 8, box[:2])
    result = restorer.restore(mosaic, mask, [(mask, CellGrid.integer_grid(8, box[:2]))])
    return [why for r in result.regions for why in r.reasons]
