"""How many real faces the safety gate and ``--where face`` catch, and how often they err.

    python benchmarks/face_recall.py PHOTOS benchmarks/face_labels.json

PHOTOS is the folder the labels' paths are relative to (``../shared/data/photos``). Two
sets of faces:

- **labelled**: the faces in those photos, boxed by eye (``face_labels.json``; ``ignore``
  boxes are statues, posters, backs of heads and crowds of 3-7 px faces: a detection
  there counts neither way). Every labelled photo, with or without faces, counts for
  false alarms.
- **composited**: real faces that scikit-image ships (the 100 faces of its LFW subset,
  the astronaut, the cameraman) pasted into face-free labelled photos scaled to 1280 px,
  at face widths from 12 to 320 px drawn log-uniformly (``--seed``); their boxes are
  known by construction. The photos hold too few faces for 100 by eye (16 in 185).

For each detector setup: the gate's recall (``screen_region(clean photo, face box)`` says
"face"), ``--where face``'s recall (at least 90 % of the face box hidden), both per face
size, false alarms per labelled photo (``--where face`` boxes touching no face or ignore
box), and ms per 1280x720 image for ``--where face``. Setups: **before** (NudeNet's face
classes; the gate as it was: each context scaled to one 320 px view, no tiles),
**nudenet** and **centerface** alone in today's gate, **union** (both, no second look)
**verified** (both, weak faces given a second look: :mod:`mosaicgan.detect.verify`) and
**shipped** (verified, and animals' faces left out: :mod:`mosaicgan.detect.animal`).
``--where face`` counts a face hidden at 90 % of its box, and also "in full" (all of it).

**Restored faces** (``--restored``): each labelled and composited face of 16 px or more
that the gate sees in the clean photo is mosaiced (its box, blocks 8 and 16, the box's
corner on the grid) and restored by the shipped model with the gate left out
(``ungated.py``); the gate must still say "face" on every one. This is what the restore
gate is for.

**Animals** (``--animals``): the animal share :mod:`mosaicgan.detect.animal` computes on
every labelled and composited face (it must stay below its threshold), and on the
demo's cat.

**Regions refused on face-free photos** (``--refusals``): random regions (as ``mosaicgan
eval`` draws them: photos scaled to 768 px, ``random_region`` of 3-15 % of the photo,
block 8/12/16 in turn, seeded) mosaiced on the labelled photos with no face, restored by
the shipped model (``Restorer.restore``, gated), counting the regions the gate refuses,
per set and reason (regions touching an ``ignore`` box, e.g. a statue, counted apart);
and whether the demo's cat (chelsea, its demo box, restored by the shipped model) is
refused. The second look was tuned on the Debian photos; CBSD68 and Sun-Hays are held out.

    python benchmarks/face_recall.py PHOTOS benchmarks/face_labels.json --refusals \
        --setups shipped
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from mosaicgan import safety
from mosaicgan.detect import shared
from mosaicgan.detect.animal import ANIMAL, AnimalJudge
from mosaicgan.detect.base import shifted
from mosaicgan.detect.centerface import CenterFaceDetector
from mosaicgan.detect.nudenet import NudeNetDetector
from mosaicgan.detect.shared import CombinedDetector, VerifiedDetector
from mosaicgan.geometry import box_iou, context_box
from mosaicgan.imageio import read_image
from mosaicgan.regions.detectors import find_faces

sys.path.insert(0, os.path.dirname(__file__))
from common import machine_line, table

SIZES = ((0, 16), (16, 32), (32, 64), (64, 128), (128, 100000))
ASTRONAUT_FACE = (173, 82, 102, 98)  # as in the tests, by eye
CAMERAMAN_FACE = (196, 112, 62, 84)  # by eye
LFW_FACE = (2, 2, 21, 23)  # in each 25 x 25 crop of scikit-image's LFW subset, by eye
COVERED = 0.9  # --where face hides a face when this much of its box is masked


def composites(photos: Path, labels: dict, seed: int) -> list[tuple[str, np.ndarray, list]]:
    """(name, image, face boxes) with skimage's real faces pasted into face-free photos."""
    import skimage.data

    rng = np.random.default_rng(seed)
    lfw = (skimage.data.lfw_subset()[:100] * 255).round().astype(np.uint8)  # faces first
    # An LFW crop is the face with a pixel or two around it: its face box, by eye.
    sources = [(np.repeat(f[..., None], 3, 2), LFW_FACE, 160) for f in lfw]
    astronaut = skimage.data.astronaut()
    sources += [(astronaut, ASTRONAUT_FACE, 320)] * 20
    camera = np.repeat(skimage.data.camera()[..., None], 3, 2)
    sources += [(camera, CAMERAMAN_FACE, 240)] * 10
    order = rng.permutation(len(sources))
    empty = [k for k, v in labels.items() if not v["faces"] and not v["ignore"]]
    out, k = [], 0
    while k < len(order):
        name = empty[len(out) % len(empty)]
        image = read_image(photos / name)
        scale = 1280 / max(image.shape[:2])
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
                           if scale < 1 else cv2.INTER_CUBIC)
        h, w = image.shape[:2]
        boxes: list = []
        for _ in range(3):  # up to three faces per photo, apart
            if k == len(order):
                break
            src, (fx, fy, fw, fh), top = sources[order[k]]
            width = float(np.exp(rng.uniform(np.log(12), np.log(top))))
            s = width / fw
            # The face with half a face around it (the head), scaled.
            x0, y0 = max(0, round(fx - fw / 2)), max(0, round(fy - fh / 2))
            x1 = min(src.shape[1], round(fx + 1.5 * fw))
            y1 = min(src.shape[0], round(fy + 1.5 * fh))
            part = cv2.resize(src[y0:y1, x0:x1], (max(1, round((x1 - x0) * s)),
                                                  max(1, round((y1 - y0) * s))),
                              interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
            ph, pw = part.shape[:2]
            if ph >= h or pw >= w:
                k += 1
                continue
            for _try in range(20):
                px, py = int(rng.integers(0, w - pw)), int(rng.integers(0, h - ph))
                if all(box_iou((px, py, pw, ph), b[1]) == 0 for b in boxes):
                    break
            else:
                break
            image[py:py + ph, px:px + pw] = part
            face = (px + round((fx - x0) * s), py + round((fy - y0) * s), round(fw * s),
                    round(fh * s))
            boxes.append((face, (px, py, pw, ph)))
            k += 1
        out.append((f"composite {len(out)} on {name}", image, [b[0] for b in boxes]))
    return out


def old_screen_region(image: np.ndarray, box, detector: NudeNetDetector) -> list[str]:
    """The gate before CenterFace: NudeNet on each context scaled to 320 px, no tiles."""
    height, width = image.shape[:2]
    found = []
    for grow in safety.CONTEXTS:
        cx, cy, cw, ch = context_box(box, width, height, grow)
        crop = np.ascontiguousarray(image[cy:cy + ch, cx:cx + cw])
        found += [d for d in shifted(detector.detect_view(crop), cx, cy)
                  if d.label in ("FACE_FEMALE", "FACE_MALE") and d.score >= 0.25
                  and _overlaps(d.box, box)]
    return ["face"] if found else []


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def bucket(box) -> int:
    side = min(box[2], box[3])
    return next(i for i, (lo, hi) in enumerate(SIZES) if lo <= side < hi)


def false_alarms(regions, faces, ignore) -> int:
    known = list(faces) + list(ignore)
    return sum(not any(_overlaps(b, k) for k in known) for b in regions.boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("labels", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timing-photos", type=int, default=12)
    parser.add_argument("--setups", default="before,nudenet,centerface,union",
                        help="Which setups to run, comma-separated.")
    parser.add_argument("--timing-only", action="store_true",
                        help="Only the ms per 720p image (run it on a quiet machine).")
    parser.add_argument("--faces-only", action="store_true",
                        help="Only the recall (no false alarms per photo, no timing).")
    parser.add_argument("--refusals", action="store_true",
                        help="Only the regions refused on face-free photos (and the cat).")
    parser.add_argument("--restored", action="store_true",
                        help="Only the gate's recall on real faces restored ungated.")
    parser.add_argument("--animals", action="store_true",
                        help="Only the animal shares on real faces and the cat.")
    parser.add_argument("--sets", default="debian,cbsd68,sun_hays80")
    parser.add_argument("--per-image", type=int, default=2, help="regions per photo")
    parser.add_argument("--max-photos", type=int, default=0, help="per set (0: all)")
    args = parser.parse_args()
    labels = json.loads(args.labels.read_text())["images"]

    print(machine_line())
    nudenet, centerface = NudeNetDetector(), CenterFaceDetector()
    setups = {"before": nudenet, "nudenet": nudenet, "centerface": centerface,
              "union": CombinedDetector([centerface, nudenet]),
              "verified": VerifiedDetector(centerface, nudenet),
              "shipped": VerifiedDetector(centerface, nudenet, AnimalJudge())}
    setups = {k: setups[k] for k in args.setups.split(",")}
    if args.refusals:
        from refusals import refusal_rows

        rows = []
        for name, detector in setups.items():
            shared._detector = detector
            rows += refusal_rows(name, args.photos, labels, args.sets.split(","),
                                 args.per_image, args.seed, args.max_photos)
        shared._detector = None
        print(table(["setup", "photos", "regions", "refused", "face", "nudity",
                     "of them on an ignore box", "refused %"], rows))
        return

    labelled = [(k, read_image(args.photos / k), v["faces"], v["ignore"])
                for k, v in sorted(labels.items())]
    composited = composites(args.photos, labels, args.seed)
    faces_by_set = {"labelled": [(img, f) for _, img, fs, _ in labelled for f in fs],
                    "composited": [(img, f) for _, img, fs in composited for f in fs]}
    if args.animals:
        print(animal_table(faces_by_set))
        return
    if args.restored:
        print(table(["setup", "faces", "restored faces >= 16 px the gate sees"],
                    restored_rows(setups, faces_by_set)))
        return
    rows = []
    for name, detector in setups.items():
        shared._detector = detector
        for set_name, faces in ({} if args.timing_only else faces_by_set).items():
            gate = np.zeros((len(SIZES), 2), int)
            hide = np.zeros((len(SIZES), 2), int)
            full = np.zeros((len(SIZES), 2), int)
            for image, face in faces:
                b = bucket(face)
                said = (old_screen_region(image, tuple(face), nudenet) if name == "before"
                        else safety.screen_region(image, tuple(face)))
                gate[b] += ("face" in said, 1)
                x, y, w, h = face
                covered = find_faces(image).mask[y:y + h, x:x + w]
                hide[b] += (covered.mean() >= COVERED, 1)
                full[b] += (covered.all(), 1)
            big = slice(1, None)  # faces of 16 px and more: where the targets are
            rows.append([name, set_name, f"{len(faces)}",
                         _rate(gate[big]), _rate(hide[big]), _rate(full[big]),
                         *(f"{_rate(gate[i:i + 1])} / {_rate(hide[i:i + 1])}"
                           for i in range(len(SIZES)))])
        if args.faces_only:
            print(f"done: {name}", flush=True)
            continue
        alarms = 0 if args.timing_only else \
            sum(false_alarms(find_faces(img), fs, ig) for _, img, fs, ig in labelled)
        timing = [cv2.resize(img, (1280, 720), interpolation=cv2.INTER_AREA)
                  for _, img, _, _ in labelled[::max(1, len(labelled) // args.timing_photos)]]
        find_faces(timing[0])  # warm-up
        t0 = time.perf_counter()
        for img in timing:
            find_faces(img)
        ms = 1000 * (time.perf_counter() - t0) / len(timing)
        rows.append([name, "all photos", f"{len(labelled)} photos",
                     f"{alarms / len(labelled):.3f} false alarms / photo", f"{ms:.0f} ms / 720p",
                     "", *[""] * len(SIZES)])
        print(f"done: {name}", flush=True)
    shared._detector = None
    head = ["setup", "faces", "n", "gate >= 16 px", "--where face >= 16 px",
            "in full >= 16 px",
            *(f"gate / hidden {lo}-{hi if hi < 1000 else ''} px" for lo, hi in SIZES)]
    print(table(head, rows))


def animal_table(faces_by_set: dict) -> str:
    """Each set's largest animal share (the smaller of box and surroundings), its five
    highest faces, and the demo's cat."""
    import skimage.data

    judge = AnimalJudge()
    rows = []
    for set_name, faces in faces_by_set.items():
        shares = sorted(((min(judge.shares(img, tuple(f))), tuple(f)) for img, f in faces),
                        reverse=True)
        rows.append([set_name, str(len(faces)), f"{shares[0][0]:.3f}",
                     ", ".join(f"{s:.2f} ({b[2]}x{b[3]})" for s, b in shares[:5])])
    cat = min(judge.shares(skimage.data.chelsea(), (140, 40, 130, 120)))
    rows.append(["demo cat (its face)", "1", f"{cat:.3f}", ""])
    return table(["faces", "n", f"largest share (vetoed at {ANIMAL})", "highest five"], rows)


def restored_rows(setups: dict, faces_by_set: dict, blocks=(8, 16)) -> list[list[str]]:
    """For each setup, how many real faces >= 16 px, mosaiced and restored ungated, the
    gate still calls a face (of those it sees in the clean photo)."""
    from ungated import ungated

    from mosaicgan.find import CellGrid
    from mosaicgan.models.restorer import load_restorer
    from mosaicgan.mosaic import pixelate_array
    from mosaicgan.regions.masks import box_mask

    restorer = load_restorer("default", "cpu")
    cases = {}
    for set_name, faces in faces_by_set.items():
        for image, face in faces:
            if min(face[2], face[3]) < 16:
                continue
            x, y, w, h = (int(v) for v in face)
            mask = box_mask(*image.shape[:2], (x, y, w, h))
            for block in blocks:
                mosaic = pixelate_array(image, mask, block, (x, y))
                restored = ungated(restorer, mosaic, mask, CellGrid.integer_grid(block, (x, y)))
                cases.setdefault(set_name, []).append((image, restored, (x, y, w, h)))
    rows = []
    for name, detector in setups.items():
        shared._detector = detector
        for set_name, items in cases.items():
            seen = [(restored, box) for image, restored, box in items
                    if "face" in safety.screen_region(image, box)]
            caught = sum("face" in safety.screen_region(r, box) for r, box in seen)
            rows.append([name, set_name, f"{caught}/{len(seen)} (blocks "
                         f"{', '.join(map(str, blocks))})"])
        print(f"done: {name}", flush=True)
    shared._detector = None
    return rows


def _rate(counts: np.ndarray) -> str:
    hit, total = counts.sum(axis=0)
    return f"{100 * hit / total:.1f}% ({hit}/{total})" if total else "-"


if __name__ == "__main__":
    main()
