"""Training speed: images/s of a training step, plain fp32 against the defaults.

    .venv/bin/python benchmarks/train_speed.py [--models pix2pix,cyclegan] [--rounds 3]
        [--sizes 256,128] [--batches 1,4] [--compile] [--check-losses 20] [--device auto]

"plain" is fp32 with contiguous tensors and torch's default Adam, as the reference code
runs; "default" is what `mosaicgan train` uses on this device (bf16 autocast where
supported, with channels_last for pix2pix, CycleGAN's instance norm staying contiguous,
and Adam's fused kernel); "+compile" adds torch.compile (`--compile`). Variants
alternate step by step from the same weights and data; the table gives median seconds
per step, images/s and the speed-up over plain, and says whether the machine stayed
quiet. `--check-losses N` also trains N steps each way from the same start and reports
how far the default path's losses drift from fp32.
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, table, wait_for_quiet

from mosaicgan.models.device import pick_device
from mosaicgan.train.cyclegan import CycleGAN, CycleGANConfig
from mosaicgan.train.pix2pix import Pix2Pix, Pix2PixConfig
from mosaicgan.train.precision import Amp, fused_adam, pick_precision


def make(kind: str, size: int, batch: int, device: torch.device, precision: str,
         channels_last: bool, compiled: bool = False, fused: bool | None = None):
    """A model, its precision policy and a fixed random batch. ``fused`` (Adam's fused
    kernel) defaults to what training uses here, except for plain fp32 (the reference's
    multi-tensor Adam)."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if fused is None:
        fused = precision != "fp32" and fused_adam(device)
    if kind == "pix2pix":
        model = Pix2Pix(Pix2PixConfig(size=size, mask_channel=True, dropout=0.0), device, fmt,
                        fused)
    else:
        model = CycleGAN(CycleGANConfig(size=size, pool_size=0), device, fmt, fused)
    if compiled:
        for module in model.modules().values():
            module.compile()
    gen = torch.Generator().manual_seed(1)
    data = {"a": torch.rand(batch, 3, size, size, generator=gen).to(device),
            "b": torch.rand(batch, 3, size, size, generator=gen).to(device),
            "mask": (torch.rand(batch, 1, size, size, generator=gen) > 0.7).to(device)}
    return model, Amp(device, precision), data


def step_fn(*spec, **kw):
    model, amp, data = make(*spec, **kw)
    device = spec[3]

    def step() -> None:
        model.train_step(data, amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def loss_drift(kind: str, size: int, device: torch.device, precision: str, cl: bool,
               steps: int) -> float:
    """Largest relative gap between the mean losses of fp32 and the default over N steps."""
    means = []
    for prec, fmt in (("fp32", False), (precision, cl)):
        model, amp, data = make(kind, size, 1, device, prec, fmt)
        totals: dict[str, float] = {}
        for _ in range(steps):
            for k, v in model.train_step(data, amp).items():
                totals[k] = totals.get(k, 0.0) + float(v) / steps
        means.append(totals)
    ref, fast = means
    return max(abs(fast[k] - ref[k]) / max(abs(ref[k]), 1e-3) for k in ref)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="pix2pix,cyclegan")
    parser.add_argument("--sizes", default="256,128")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--check-losses", type=int, default=0, metavar="N")
    args = parser.parse_args()
    device = pick_device(args.device)
    fast_precision = pick_precision("auto", device)
    fast_cl = device.type in ("cpu", "cuda")
    quiet = wait_for_quiet()
    rows, drift_rows = [], []
    with NoiseMeter() as noise:
        for kind in args.models.split(","):
            for size in map(int, args.sizes.split(",")):
                for batch in map(int, args.batches.split(",")):
                    spec = (kind, size, batch, device)
                    variants = {"plain": step_fn(*spec, "fp32", False),
                                "default": step_fn(*spec, fast_precision, fast_cl)}
                    if args.compile:
                        variants["+compile"] = step_fn(*spec, fast_precision, fast_cl,
                                                       compiled=True)
                    for fn in variants.values():  # warm-up (and compilation)
                        fn()
                        fn()
                    secs = alternate(variants, args.rounds)
                    row = [kind, size, batch]
                    for name in variants:
                        row += [f"{secs[name]:.3f}", f"{batch / secs[name]:.2f}",
                                f"{secs['plain'] / secs[name]:.2f}x"]
                    rows.append(row)
                    print(f"done {kind} {size} batch {batch}", file=sys.stderr)
                if args.check_losses:
                    drift = loss_drift(kind, size, device, fast_precision, fast_cl,
                                       args.check_losses)
                    drift_rows.append([kind, size, args.check_losses, f"{100 * drift:.1f}%"])
    label = f"{fast_precision}{' + channels_last (pix2pix)' if fast_cl else ''}" + \
        (" + fused Adam" if fused_adam(device) else "")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"training step on {device} ({name}, {torch.get_num_threads()} CPU threads), "
          f"torch {torch.__version__}; default = {label}")
    header = ["model", "size", "batch"]
    for variant in ["plain", "default"] + (["+compile"] if args.compile else []):
        header += [f"{variant} s/step", f"{variant} img/s", "speed-up"]
    print(table(header, rows))
    if drift_rows:
        print("\nlosses, default vs fp32 from the same start (largest relative gap of means):")
        print(table(["model", "size", "steps", "gap"], drift_rows))
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
