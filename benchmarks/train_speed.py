"""Training speed: images/s of a training step, plain fp32 against the default.

    .venv/bin/python benchmarks/train_speed.py [--models pix2pix,cyclegan] [--rounds 3]
        [--sizes 256,128] [--batches 1,4] [--compile] [--check-losses 20] [--device auto]
        [--remeasure] [--isa native,avx2]

"plain" is fp32 with contiguous tensors and torch's default Adam, as the reference code
runs: the baseline. "default" is what `mosaicgan train` runs here: the path its start-up
measurement chooses (mosaicgan.train.autotune: native precisions only, channels_last or
not, checked against fp32; taken from the user's cache as training would, or measured
afresh with `--remeasure`) with Adam's fused kernel; "+compile" adds torch.compile
(`--compile`). Variants alternate step by step from the same weights and data; the table
gives the chosen path, what choosing it cost, median seconds per step, images/s and the
ratio to plain, and says whether the machine stayed quiet. `--check-losses N` also trains
N steps each way from the same start and reports how far the default's losses drift.
`--isa native,avx2` adds rows measured with torch's and oneDNN's kernels limited to AVX2
(ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA; `avx512` likewise), each in a child process, so
one run shows an AVX-512 machine's path and an AVX2 machine's side by side.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from common import NoiseMeter, alternate, machine_line, table, wait_for_quiet

from mosaicgan.fastpath import Decision, FastPath
from mosaicgan.models.device import pick_device
from mosaicgan.train.autotune import apply_path, training_path
from mosaicgan.train.cyclegan import CycleGAN, CycleGANConfig
from mosaicgan.train.pix2pix import Pix2Pix, Pix2PixConfig
from mosaicgan.train.precision import Amp, fused_adam


def trainer(kind: str, size: int, device: torch.device, fmt: torch.memory_format,
            fused: bool):
    if kind == "pix2pix":
        return Pix2Pix(Pix2PixConfig(size=size, mask_channel=True, dropout=0.0), device, fmt,
                       fused)
    return CycleGAN(CycleGANConfig(size=size, pool_size=0), device, fmt, fused)


def batch_of(size: int, batch: int, device: torch.device) -> dict:
    gen = torch.Generator().manual_seed(1)
    return {"a": torch.rand(batch, 3, size, size, generator=gen).to(device),
            "b": torch.rand(batch, 3, size, size, generator=gen).to(device),
            "mask": (torch.rand(batch, 1, size, size, generator=gen) > 0.7).to(device)}


def make(kind: str, size: int, batch: int, device: torch.device, precision: str,
         channels_last: bool, compiled: bool = False, fused: bool | None = None,
         winograd: bool = False):
    """A model, its precision policy and a fixed random batch. ``fused`` (Adam's fused
    kernel) defaults to what training uses here."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if fused is None:
        fused = fused_adam(device)
    model = trainer(kind, size, device, fmt, fused)
    apply_path(model, FastPath(precision, channels_last, winograd=winograd))
    if compiled:
        for module in model.modules().values():
            module.compile()
    return model, Amp(device, precision), batch_of(size, batch, device)


def chosen_path(kind: str, size: int, batch: int, device: torch.device,
                remeasure: bool) -> tuple[Decision, float]:
    """The path `mosaicgan train` takes for this workload, and the seconds choosing took."""
    t0 = time.perf_counter()
    decision = training_path(lambda dev, fmt, fused: trainer(kind, size, dev, fmt, fused),
                             batch_of(size, batch, device), device,
                             workload={"benchmark": kind, "size": size, "batch": batch},
                             use_cache=not remeasure)
    return decision, time.perf_counter() - t0


def step_fn(*spec, **kw):
    model, amp, data = make(*spec, **kw)
    device = spec[3]

    def step() -> None:
        model.train_step(data, amp)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def loss_drift(kind: str, size: int, device: torch.device, path: FastPath,
               steps: int) -> float:
    """Largest relative gap between the mean losses of fp32 and the default over N steps."""
    means = []
    for prec, fmt, wino in (("fp32", False, False),
                            (path.precision, path.channels_last, path.winograd)):
        model, amp, data = make(kind, size, 1, device, prec, fmt, winograd=wino)
        totals: dict[str, float] = {}
        for _ in range(steps):
            for k, v in model.train_step(data, amp).items():
                totals[k] = totals.get(k, 0.0) + float(v) / steps
        means.append(totals)
    ref, fast = means
    return max(abs(fast[k] - ref[k]) / max(abs(ref[k]), 1e-3) for k in ref)


# What --isa NAME limits torch's and oneDNN's kernels to (the variables an AVX2 machine's
# path is seen through on a newer CPU); "native" is the machine as it is.
ISA_LIMITS = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
              "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}}


def measure(args: argparse.Namespace, device: torch.device) -> dict:
    """The table's rows (and the choices and loss drifts) on the ISA this process runs."""
    rows, drift_rows, decisions = [], [], []
    quiet = wait_for_quiet()
    with NoiseMeter() as noise:
        for kind in args.models.split(","):
            for size in map(int, args.sizes.split(",")):
                for batch in map(int, args.batches.split(",")):
                    spec = (kind, size, batch, device)
                    decision, choosing = chosen_path(*spec, args.remeasure)
                    path = decision.path
                    decisions.append(f"{kind} {size} batch {batch}: {decision.describe()}")
                    variants = {"plain": step_fn(*spec, "fp32", False, fused=False),
                                "default": step_fn(*spec, path.precision, path.channels_last,
                                                   winograd=path.winograd)}
                    if args.compile:
                        variants["+compile"] = step_fn(*spec, path.precision,
                                                       path.channels_last, compiled=True,
                                                       winograd=path.winograd)
                    for fn in variants.values():  # warm-up (and compilation)
                        fn()
                        fn()
                    secs = alternate(variants, args.rounds)
                    row = [isa_label(), kind, size, batch, path.label,
                           f"{choosing:.1f} s ({decision.source})"]
                    for name in variants:
                        row += [f"{secs[name]:.3f}", f"{batch / secs[name]:.2f}",
                                f"{secs['plain'] / secs[name]:.2f}x"]
                    rows.append(row)
                    print(f"done {isa_label()} {kind} {size} batch {batch}", file=sys.stderr)
                    if args.check_losses and batch == 1:
                        drift = loss_drift(kind, size, device, path, args.check_losses)
                        drift_rows.append([isa_label(), kind, size, path.label,
                                           args.check_losses, f"{100 * drift:.1f}%"])
    return {"rows": rows, "drift_rows": drift_rows, "decisions": decisions,
            "machine": machine_line(),
            "noise": f"{'idle at start' if quiet else 'NOT idle at start'}; {noise.verdict()}"}


def isa_label() -> str:
    """The CPU capability this process runs at, and whether the variables limit it."""
    limited = "ONEDNN_MAX_CPU_ISA" in os.environ or "ATEN_CPU_CAPABILITY" in os.environ
    return f"{torch.backends.cpu.get_cpu_capability()} ({'limited' if limited else 'native'})"


def measure_limited(isa: str, argv: list[str]) -> dict:
    """:func:`measure` in a child process whose kernels are limited to ``isa`` (the limit is
    read when torch loads, so it cannot change in this process)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        subprocess.run([sys.executable, __file__, *argv, "--isa", "native", "--json", str(out)],
                       env={**os.environ, **ISA_LIMITS[isa]}, check=True)
        return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="pix2pix,cyclegan")
    parser.add_argument("--sizes", default="256,128")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--check-losses", type=int, default=0, metavar="N")
    parser.add_argument("--remeasure", action="store_true",
                        help="choose the default afresh instead of from the user's cache")
    parser.add_argument("--isa", default="native",
                        help="comma-separated: native and/or " + ", ".join(ISA_LIMITS)
                        + " (each limited ISA runs in a child process)")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)  # a child's results
    args = parser.parse_args()
    isas = args.isa.split(",")
    unknown = set(isas) - {"native", *ISA_LIMITS}
    if unknown:
        parser.error(f"unknown --isa {', '.join(sorted(unknown))}")
    if args.remeasure and args.json is None:
        # Every decision afresh, the per-convolution ones (Winograd) included; the children
        # inherit the empty cache.
        cache = tempfile.mkdtemp(prefix="train-speed-cache-")
        atexit.register(shutil.rmtree, cache, True)
        os.environ["XDG_CACHE_HOME"] = cache
    device = pick_device(args.device)
    if device.type != "cpu" and isas != ["native"]:
        parser.error("--isa limits CPU kernels: use it with --device cpu")
    argv = [a for a in sys.argv[1:]]
    if "--isa" in argv:  # the child gets every other option as given
        i = argv.index("--isa")
        del argv[i:i + 2]
    argv = [a for a in argv if not a.startswith("--isa=")]
    results = [measure(args, device) if isa == "native" else measure_limited(isa, argv)
               for isa in isas]
    if args.json:
        args.json.write_text(json.dumps(results[0]))
        return
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    for result in results:
        print(result["machine"])
    print(f"training step on {device} ({name}, {torch.get_num_threads()} CPU threads); "
          f"plain = fp32, contiguous, torch's default Adam (as the reference code runs); "
          f"default = the chosen path{' + fused Adam' if fused_adam(device) else ''}")
    header = ["ISA", "model", "size", "batch", "default path", "choosing took"]
    for variant in ["plain", "default"] + (["+compile"] if args.compile else []):
        header += [f"{variant} s/step", f"{variant} img/s", "vs plain"]
    print(table(header, [row for r in results for row in r["rows"]]))
    print("\nchoices (seconds per step as measured at the start):")
    print("\n".join(line for r in results for line in r["decisions"]))
    drift_rows = [row for r in results for row in r["drift_rows"]]
    if drift_rows:
        print("\nlosses, default vs fp32 from the same start (largest relative gap of means):")
        print(table(["ISA", "model", "size", "path", "steps", "gap"], drift_rows))
    for isa, result in zip(isas, results, strict=True):
        print(f"machine ({isa}): {result['noise']}")


if __name__ == "__main__":
    main()
