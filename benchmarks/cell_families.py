"""Which network family restores cells best for its cost: each trained for the same steps on
the same pairs, side by side (one process per family, one thread each, so both see the
same machine), then measured on the pairs' val split at block 8 (PSNR over the crop,
against bicubic of the same cells) and timed on one 32x32-cell window.

    python benchmarks/cell_families.py PAIRS -o RUNS --steps 1500

Tune here on the Debian pairs; report restore quality with `mosaicgan eval` on the
other sets.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time
from pathlib import Path

import torch

FAMILIES = {"edsr": {"family": "edsr"}, "rcan": {"family": "rcan"}}


def _train(name: str, pairs: str, out: str, steps: int, batch: int) -> None:
    """Train one family on the pairs' targets. Unlike ``mosaicgan train cells`` this does
    not screen them (half an hour on 2 cores): its weights are measured and thrown away,
    and the Debian photos show no human face (benchmarks/face_labels.json)."""
    torch.set_num_threads(1)
    from mosaicgan.data.cells import CellDataset
    from mosaicgan.nets.cellnet import CellNetConfig
    from mosaicgan.train.cells import CellTrainConfig, CellTrainer
    from mosaicgan.train.loop import LoopOptions, run_training

    opts = LoopOptions(steps=steps, batch=batch, precision="fp32", sample_every=0,
                       checkpoint_every=max(steps // 8, 1), log_every=50, progress=False)
    cfg = CellTrainConfig(CellNetConfig(**FAMILIES[name]))
    run = Path(out) / name
    t0 = time.perf_counter()
    run_training(lambda device, fmt, fused: CellTrainer(cfg, device, fmt, fused),
                 CellDataset(pairs, "train"), run, opts,
                 resume=(run / "checkpoint.json").is_file(),
                 log=lambda m: print(f"[{name}] {m}", flush=True))
    print(f"[{name}] trained in {time.perf_counter() - t0:.0f} s", flush=True)


def _measure(run: Path, pairs: str) -> dict:
    from mosaicgan.data.cells import CellDataset
    from mosaicgan.models.checkpoint import load_checkpoint
    from mosaicgan.nets.cellnet import CellNetConfig, build_cellnet, macs_per_cell, parameter_count
    from mosaicgan.train.cells import psnr_against_bicubic

    ckpt = load_checkpoint(run)
    cfg = CellNetConfig.from_saved(ckpt.config)
    net = build_cellnet(cfg)
    ckpt.load_module("G", net)
    net.eval()
    val = CellDataset(pairs, "val", 32, cfg.scale, augment=False)
    psnr, base = 0.0, 0.0
    with torch.no_grad():
        for i in range(0, len(val), 16):
            items = [val[j] for j in range(i, min(i + 16, len(val)))]
            batch = {k: torch.stack([it[k] for it in items]) for k in ("a", "b")}
            ours, bicubic = psnr_against_bicubic(net(batch["a"]), batch)
            psnr, base = psnr + ours * len(items), base + bicubic * len(items)
        x = torch.rand(1, 3, 32, 32)
        net(x)
        t0 = time.perf_counter()
        for _ in range(5):
            net(x)
        ms = (time.perf_counter() - t0) / 5 * 1000
    n = len(val)
    return {"psnr": psnr / n, "bicubic": base / n, "ms": ms,
            "params": parameter_count(net), "macs": macs_per_cell(cfg), "step": ckpt.step}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--families", default=",".join(FAMILIES))
    args = ap.parse_args()
    names = args.families.split(",")
    procs = [mp.get_context("spawn").Process(target=_train, args=(n, args.pairs, args.out,
                                                                 args.steps, args.batch))
             for n in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    torch.set_num_threads(1)
    print(f"\nmachine: {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.backends.cpu.get_cpu_capability()}, "
          f"1 thread per family")
    print(f"{'family':8} {'step':>6} {'params':>9} {'MAC/cell':>9} {'ms/32x32':>9} "
          f"{'PSNR':>7} {'bicubic':>8} {'gain dB':>8}")
    for n in names:
        m = _measure(Path(args.out) / n, args.pairs)
        print(f"{n:8} {m['step']:6d} {m['params']:9d} {m['macs']:9d} {m['ms']:9.1f} "
              f"{m['psnr']:7.2f} {m['bicubic']:8.2f} {m['psnr'] - m['bicubic']:+8.2f}")


if __name__ == "__main__":
    main()
