"""Training speed: images/s of a training step, plain fp32 against the defaults.

    .venv/bin/python benchmarks/train_speed.py [--models pix2pix,cyclegan] [--rounds 3]
        [--sizes 256,128] [--batches 1,4]

"plain" is fp32 with contiguous tensors; "default" is what `mosaicgan train` uses on this
device (on CPU: bf16 autocast, with channels_last for pix2pix; CycleGAN's instance norm
stays contiguous). Variants alternate step by step; the table gives median images/s and
the ratio default/plain, and says whether the machine stayed quiet.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, table, wait_for_quiet

from mosaicgan.train.cyclegan import CycleGAN, CycleGANConfig
from mosaicgan.train.pix2pix import Pix2Pix, Pix2PixConfig
from mosaicgan.train.precision import Amp, pick_device, pick_precision


def step_fn(kind: str, size: int, batch: int, device: torch.device, precision: str,
            channels_last: bool):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if kind == "pix2pix":
        model = Pix2Pix(Pix2PixConfig(size=size, mask_channel=True), device, fmt)
    else:
        model = CycleGAN(CycleGANConfig(size=size), device, fmt)
    amp = Amp(device, precision)
    data = {"a": torch.rand(batch, 3, size, size, device=device),
            "b": torch.rand(batch, 3, size, size, device=device),
            "mask": torch.rand(batch, 1, size, size, device=device) > 0.7}

    def step() -> None:
        model.train_step(data, amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="pix2pix,cyclegan")
    parser.add_argument("--sizes", default="256,128")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    fast_precision = pick_precision("auto", device)
    fast_cl = device.type in ("cpu", "cuda")
    quiet = wait_for_quiet()
    rows = []
    with NoiseMeter() as noise:
        for kind in args.models.split(","):
            for size in map(int, args.sizes.split(",")):
                for batch in map(int, args.batches.split(",")):
                    variants = {
                        "plain": step_fn(kind, size, batch, device, "fp32", False),
                        "default": step_fn(kind, size, batch, device, fast_precision, fast_cl)}
                    for fn in variants.values():  # warm-up
                        fn()
                        fn()
                    secs = alternate(variants, args.rounds)
                    rows.append([kind, size, batch, f"{secs['plain']:.2f}",
                                 f"{secs['default']:.2f}", f"{batch / secs['plain']:.2f}",
                                 f"{batch / secs['default']:.2f}",
                                 f"{secs['plain'] / secs['default']:.2f}x"])
                    print(f"done {kind} {size} batch {batch}", file=sys.stderr)
    label = f"{fast_precision}{' + channels_last (pix2pix)' if fast_cl else ''}"
    print(f"training step on {device} ({torch.get_num_threads()} threads), "
          f"torch {torch.__version__}; default = {label}")
    print(table(["model", "size", "batch", "plain s/step", "default s/step", "plain img/s",
                 "default img/s", "speed-up"], rows))
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
