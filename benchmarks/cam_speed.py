"""CAM speed: ms per image of class_activation_map with the offline EfficientNet-Lite0.

    .venv/bin/python benchmarks/cam_speed.py [--photos chelsea,coffee,astronaut,rocket]
        [--folder DIR] [--rounds 7] [--threads N] [--device cpu] [--max-wait 300]

Variants: CAM at short side 224, 320, 448 and multi-scale (224, 320, 448), Grad-CAM at 224;
each includes resizing, the forward pass(es), upsampling the map to the photo and
normalising (not thresholding). Variants alternate image by image; the table gives the
median over rounds of the mean ms per image, after one warm-up pass, and says whether the
machine stayed quiet. Photos come from scikit-image unless --folder is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from functools import partial
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, table, wait_for_quiet

from mosaicgan.regions.cam import class_activation_map
from mosaicgan.regions.classifier import Classifier

VARIANTS = {
    "CAM 224": ("cam", (224,)),
    "CAM 320": ("cam", (320,)),
    "CAM 448": ("cam", (448,)),
    "CAM 224+320+448": ("cam", (224, 320, 448)),
    "Grad-CAM 224": ("gradcam", (224,)),
}


def load_photos(names: str, folder: str | None) -> list:
    if folder:
        from mosaicgan.imageio import read_image
        from mosaicgan.walk import list_images

        return [read_image(p) for p in list_images([Path(folder)])]
    import skimage.data

    return [getattr(skimage.data, name)() for name in names.split(",")]


def run_all(images: list, classifier: Classifier, method: str, scales: tuple[int, ...]) -> None:
    for image in images:
        class_activation_map(image, classifier, method=method, scales=scales)
    if classifier.device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", default="chelsea,coffee,astronaut,rocket")
    parser.add_argument("--folder", default=None, help="benchmark these images instead")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-wait", type=float, default=300, help="seconds to wait for quiet")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    images = load_photos(args.photos, args.folder)
    classifier = Classifier.default()
    classifier.model.to(args.device)
    variants = {name: partial(run_all, images, classifier, method, scales)
                for name, (method, scales) in VARIANTS.items()}
    for fn in variants.values():  # warm-up: oneDNN builds its kernels per input shape
        fn()
    quiet = wait_for_quiet(max_wait=args.max_wait)
    with NoiseMeter() as noise:
        secs = alternate(variants, args.rounds)
    base = secs["CAM 224"]
    rows = [[name, f"{1000 * s / len(images):.1f}", f"{s / base:.2f}x"]
            for name, s in secs.items()]
    sizes = ", ".join(f"{im.shape[1]}x{im.shape[0]}" for im in images)
    print(f"class_activation_map on {args.device} ({torch.get_num_threads()} threads), "
          f"torch {torch.__version__}; {len(images)} photos ({sizes}); median of "
          f"{args.rounds} rounds")
    print(table(["variant", "ms / image", "vs CAM 224"], rows))
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
