"""Faces in video: face-frames hidden, and the time, of `mosaic --where face` at each stride.

    .venv/bin/python benchmarks/face_video.py [PHOTOS] [LABELS] [--strides 1,4,8,16]
        [--frames 30] [--speed 6] [--size 1280x720]

PHOTOS defaults to ../shared/data/photos and LABELS to benchmarks/face_labels.json (the
photos' labelled faces); scikit-image's astronaut (her face box as the tests know it) is
always added. Each photo with a labelled face is scaled to the clip's height and panned
across a grey canvas at --speed px/frame, so every frame's faces are known. The frames go
through the processor `mosaic --where face --style solid --detect-every N` uses
(:func:`mosaicgan.jobs.mosaic.tracked_hider`, the real detectors, the tracker), without
the codec, so a hidden pixel is exactly one that changed. A face-frame counts as hidden
when at least 99 % of its labelled box changed, hidden in full at 100 %; faces under
16 px (after scaling) are counted apart. The table gives, per stride: face-frames hidden,
in full, the detector's calls, seconds per frame (processing only: the video summary line
says what decoding and encoding add) and the speed-up over stride 1, which runs in the
same process as the baseline.
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

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, machine_line, table, wait_for_quiet

from mosaicgan.detect import shared
from mosaicgan.imageio import read_image
from mosaicgan.jobs.mosaic import tracked_hider
from mosaicgan.options import RegionSpec
from mosaicgan.regions.choose import find_regions

HERE = Path(__file__).parent
ASTRONAUT_FACE = (174, 24, 112, 150)  # tests/conftest.py's


def labelled_photos(root: Path, labels: Path) -> list[tuple[str, np.ndarray, list]]:
    """(name, image, face boxes) for every photo with a labelled face, and the astronaut."""
    from skimage import data

    out = [("astronaut", data.astronaut(), [ASTRONAUT_FACE])]
    listed = json.loads(labels.read_text())["images"]
    for name, entry in sorted(listed.items()):
        if entry["faces"] and (root / name).exists():
            out.append((name, read_image(root / name), [tuple(b) for b in entry["faces"]]))
    return out


def pan(image: np.ndarray, faces: list, size: tuple[int, int], frames: int, speed: int
        ) -> tuple[list[np.ndarray], list[list[tuple[int, int, int, int]]]]:
    """The photo scaled to the clip's height, moving right ``speed`` px a frame across a
    grey canvas (wider photos are cropped to the canvas), and each frame's face boxes."""
    width, height = size
    scale = height / image.shape[0]
    photo = cv2.resize(image, (round(image.shape[1] * scale), height),
                       interpolation=cv2.INTER_AREA)
    photo = photo[:, :width]
    start = max((width - photo.shape[1]) // 2 - speed * frames // 2, 0)
    clips, boxes = [], []
    for i in range(frames):
        x0 = min(start + speed * i, width - photo.shape[1])
        canvas = np.full((height, width, 3), 128, np.uint8)
        canvas[:, x0:x0 + photo.shape[1]] = photo
        clips.append(canvas)
        boxes.append([(round(x * scale) + x0, round(y * scale), round(w * scale),
                       round(h * scale)) for x, y, w, h in faces
                      if round(x * scale) + round(w * scale) <= photo.shape[1]])
    return clips, boxes


def run_stride(frames: list[np.ndarray], stride: int, batch: int = 8
               ) -> tuple[list[np.ndarray], float, int]:
    """The processor's outputs, its seconds and the detector's calls."""
    spec = RegionSpec("face")
    calls = [0]

    def region_fn(frame):
        calls[0] += 1
        return find_regions(frame, spec)

    hider = tracked_hider(region_fn, spec, detect_every=stride, style="solid")
    out: list[np.ndarray] = []
    t0 = time.perf_counter()
    for k in range(0, len(frames), batch):
        chunk = frames[k:k + batch]
        out += hider.push(chunk, list(range(k, k + len(chunk))))
    out += hider.flush()
    return out, time.perf_counter() - t0, calls[0]


def coverage(clean: list[np.ndarray], hidden: list[np.ndarray], boxes: list[list]
             ) -> dict[str, list[float]]:
    """Per face-frame, the share of its box changed; split by face size (16 px)."""
    shares: dict[str, list[float]] = {"faces >= 16 px": [], "faces < 16 px": []}
    for a, b, frame_boxes in zip(clean, hidden, boxes, strict=True):
        changed = (a != b).any(axis=2)
        for x, y, w, h in frame_boxes:
            key = "faces >= 16 px" if min(w, h) >= 16 else "faces < 16 px"
            shares[key].append(float(changed[y:y + h, x:x + w].mean()))
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", nargs="?", type=Path, default=HERE / "../../shared/data/photos")
    parser.add_argument("labels", nargs="?", type=Path, default=HERE / "face_labels.json")
    parser.add_argument("--strides", default="1,4,8,16")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--speed", type=int, default=6, help="pan, px per frame")
    parser.add_argument("--size", default="1280x720")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    strides = [int(s) for s in args.strides.split(",")]
    if strides[0] != 1:
        strides.insert(0, 1)  # the baseline
    photos = labelled_photos(args.photos, args.labels)
    shared.shared_detector()  # loaded once, before any timing
    quiet = wait_for_quiet()
    totals = {s: {"seconds": 0.0, "frames": 0, "calls": 0,
                  "shares": {"faces >= 16 px": [], "faces < 16 px": []}} for s in strides}
    misses: dict[int, list[str]] = {s: [] for s in strides}
    with NoiseMeter() as noise:
        for name, image, faces in photos:
            frames, boxes = pan(image, faces, size, args.frames, args.speed)
            for stride in strides:
                out, seconds, calls = run_stride(frames, stride)
                t = totals[stride]
                t["seconds"] += seconds
                t["frames"] += len(frames)
                t["calls"] += calls
                for key, values in coverage(frames, out, boxes).items():
                    t["shares"][key] += values
                    if key == "faces >= 16 px" and any(v < 0.99 for v in values):
                        misses[stride].append(name)
            print(f"done {name}", file=sys.stderr)
    print(machine_line())
    print(f"{len(photos)} photos with labelled faces (the astronaut included), each panned "
          f"{args.frames} frames at {args.speed} px/frame on {args.size}; "
          "mosaic --where face --style solid's processor, no codec")
    base = totals[1]["seconds"] / totals[1]["frames"]
    rows = []
    for stride in strides:
        t = totals[stride]
        big, small = t["shares"]["faces >= 16 px"], t["shares"]["faces < 16 px"]
        per_frame = t["seconds"] / t["frames"]
        rows.append([stride, f"{sum(v >= 0.99 for v in big)}/{len(big)}",
                     f"{sum(v >= 1.0 for v in big)}/{len(big)}",
                     f"{sum(v >= 0.99 for v in small)}/{len(small)}", t["calls"],
                     f"{per_frame:.3f}", f"{1 / per_frame:.2f}", f"{base / per_frame:.2f}x"])
    print(table(["detect every", "face-frames >= 16 px hidden", "in full",
                 "face-frames < 16 px hidden", "detector calls", "s/frame", "frames/s",
                 "vs every frame"], rows))
    for stride in strides:
        if misses[stride]:
            print(f"stride {stride}: a face >= 16 px not hidden in some frame of "
                  f"{', '.join(sorted(set(misses[stride])))}")
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
