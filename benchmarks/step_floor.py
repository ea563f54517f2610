"""How fast a training step could get: the convolutions' share of the default step.

    .venv/bin/python benchmarks/step_floor.py [--models cyclegan,pix2pix] [--size 256]
        [--batch 1] [--rounds 3]

A step of these GANs is mostly convolutions, and the default path already runs them in
bf16 (oneDNN). Whatever else the step does (padding, norms, casts, the optimiser) could
at best go to zero, so ``plain step / convolution time of the default step`` bounds the
speed-up any rewrite of the rest can give without changing the arithmetic. The table
gives that bound next to the measured speed-up, and the convolutions' GFLOP/s next to a
large matmul's (about what the cores can do at all).
"""

from __future__ import annotations

import argparse
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, table, wait_for_quiet
from train_speed import make

from mosaicgan.train.precision import pick_precision

# Where oneDNN's kernels show up in the profile (transposed convolutions run inside
# aten::_convolution itself).
CONV_FORWARD = {"aten::mkldnn_convolution", "aten::_convolution", "aten::slow_conv2d_forward",
                "aten::slow_conv_transpose2d"}
CONV_BACKWARD = {"aten::convolution_backward"}


def conv_flops(nets: list[torch.nn.Module]) -> tuple[list, list[float]]:
    """Forward hooks adding each convolution's multiply-adds x 2 to a running total."""
    total = [0.0]

    def count(module, inputs, output) -> None:
        k = module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, torch.nn.ConvTranspose2d):
            total[0] += 2 * inputs[0].numel() * module.out_channels * k
        else:
            total[0] += 2 * output.numel() * module.in_channels * k

    handles = [m.register_forward_hook(count) for net in nets for m in net.modules()
               if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)]
    return handles, total


def conv_seconds(step, nets: list[torch.nn.Module]) -> tuple[float, float, float]:
    """(forward s, backward s, forward GFLOP) of the convolutions in one profiled step."""
    handles, flops = conv_flops(nets)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    for h in handles:
        h.remove()
    fwd = bwd = 0.0
    for e in prof.key_averages():
        if e.key in CONV_FORWARD:
            fwd += e.self_cpu_time_total / 1e6
        elif e.key in CONV_BACKWARD:
            bwd += e.self_cpu_time_total / 1e6
    return fwd, bwd, flops[0] / 1e9


def matmul_gflops(dtype: torch.dtype, n: int = 2048, rounds: int = 10) -> float:
    """What this CPU does at its best in ``dtype``: a large square matmul, best of rounds."""
    import time

    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    best = float("inf")
    for _ in range(rounds + 2):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="cyclegan,pix2pix")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cpu")
    precision = pick_precision("auto", device)
    quiet = wait_for_quiet()
    rows = []
    with NoiseMeter() as noise:
        for kind in args.models.split(","):
            fast_cl = kind == "pix2pix"  # as train_speed's default (CycleGAN stays contiguous)
            steps, nets = {}, []
            for name, prec, cl in (("plain", "fp32", False), ("default", precision, fast_cl)):
                model, amp, data = make(kind, args.size, args.batch, device, prec, cl)
                steps[name] = (lambda m=model, a=amp, d=data: m.train_step(d, a))
                steps[name]()  # warm-up
                steps[name]()
                nets = list(model.modules().values())
            secs = alternate(steps, args.rounds)
            fwd, bwd, gflop = conv_seconds(steps["default"], nets)
            conv = fwd + bwd
            rows.append([kind, args.size, args.batch, f"{secs['plain']:.2f}",
                         f"{secs['default']:.2f}", f"{secs['plain'] / secs['default']:.2f}x",
                         f"{fwd:.2f} + {bwd:.2f}", f"{secs['plain'] / conv:.2f}x",
                         f"{gflop / fwd:.0f}"])
            print(f"done {kind}", file=sys.stderr)
        peak = matmul_gflops(torch.bfloat16 if precision == "bf16" else torch.float32)
    print(f"training step on CPU ({torch.get_num_threads()} threads), torch {torch.__version__}, "
          f"default = {precision}")
    print(table(["model", "size", "batch", "plain s", "default s", "speed-up",
                 "conv fwd + bwd s (default)", "bound: plain / conv", "conv fwd GFLOP/s"],
                rows))
    print(f"reference: a 2048x2048 {precision} matmul runs at {peak:.0f} GFLOP/s here")
    print(f"machine: {'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}")


if __name__ == "__main__":
    main()
