"""Inference speed of the shipped restorer's generator on each backend, against torch fp32.

    .venv/bin/python benchmarks/backend_speed.py [--sizes 256,512] [--rounds 5]

One generator call on a photo crop with a mask (batch 1) per backend: torch fp32 (the
baseline, as inference ran before), every other path of mosaicgan.models.backends that
runs here (torch bf16 where native, channels_last, ONNX Runtime, OpenVINO when installed),
and the one mosaicgan chooses (measured afresh, not from the cache). Variants alternate
call by call; the table gives median ms, the ratio to torch fp32 and the largest output
difference from it (tolerance: one 8-bit level, 2/255 on the [-1, 1] scale).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, machine_line, table, wait_for_quiet

from mosaicgan.fastpath import PLAIN, candidates
from mosaicgan.models import backends
from mosaicgan.models.checkpoint import load_checkpoint
from mosaicgan.models.shipped import default_model
from mosaicgan.nets import per_sample_norm
from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator, generator_input

CPU = torch.device("cpu")


def photo_input(side: int) -> torch.Tensor:
    import cv2
    import skimage.data

    image = cv2.resize(skimage.data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    mask = torch.zeros(1, 1, side, side, dtype=torch.bool)
    mask[..., side // 4:side // 2, side // 3:2 * side // 3] = True
    return generator_input(x, mask, True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    ckpt = load_checkpoint(default_model())
    G = build_generator(ckpt.model_config(Pix2PixConfig))
    ckpt.load_module("G", G)
    G = per_sample_norm(G).eval()
    digest = backends.weights_digest(G)
    paths = candidates(CPU, backends=backends.available(CPU))
    quiet = wait_for_quiet()
    rows, chosen_lines = [], []
    with NoiseMeter() as noise:
        for side in map(int, args.sizes.split(",")):
            x = photo_input(side)
            decision = backends.choose_backend(G, x, CPU, {"benchmark": "backend_speed"},
                                               digest, use_cache=False)
            chosen_lines.append(f"{side}²: chose {decision.describe()}")
            runs = {p.label: backends.build(G, p, CPU, 4, digest) for p in paths}
            with torch.no_grad():
                reference = runs[PLAIN.label](x)
            gaps = {k: backends.output_gap(run(x), reference) for k, run in runs.items()}
            for run in runs.values():  # warm-up
                run(x)
            secs = alternate({k: (lambda run=run, x=x: run(x)) for k, run in runs.items()},
                             args.rounds)
            for label in runs:
                mark = " (chosen)" if label == decision.path.label else ""
                rows.append([f"{side}²", label + mark, f"{1000 * secs[label]:.1f}",
                             f"{secs[PLAIN.label] / secs[label]:.2f}x",
                             f"{gaps[label]:.1e}"])
            print(f"done {side}", file=sys.stderr)
    print(machine_line())
    print("shipped restorer's U-Net (ngf 32, unet_256), batch 1, one generator call")
    print(table(["crop", "backend", "ms", "vs torch fp32", "max |diff|"], rows))
    print("\n".join(chosen_lines))
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
