"""Shared by the benchmarks: wait for a quiet machine, measure how quiet it stayed, time A/B.

A second busy process on a 2-core machine slows a trial 3-10x, so each benchmark waits
for an idle machine (or says it was not) and alternates the variants it compares.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable


def _cpu_times() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, idle


def wait_for_quiet(max_wait: float = 120.0, busy_percent: float = 10.0) -> bool:
    """Wait until other processes use < busy_percent of the machine; False if they never did."""
    if not os.path.exists("/proc/stat"):
        return True
    deadline = time.time() + max_wait
    while True:
        b0, i0 = _cpu_times()
        time.sleep(2)
        b1, i1 = _cpu_times()
        busy = 100 * (b1 - b0) / max(b1 - b0 + i1 - i0, 1)
        if busy < busy_percent:
            return True
        if time.time() > deadline:
            return False
        print(f"waiting for a quiet machine ({busy:.0f}% busy)", file=sys.stderr)


class NoiseMeter:
    """How much CPU other processes used while the benchmark ran (as % of the machine)."""

    def __enter__(self) -> NoiseMeter:
        self.t0 = time.time()
        self.b0 = _cpu_times()[0] if os.path.exists("/proc/stat") else 0
        self.own0 = os.times()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.time() - self.t0
        tick = os.sysconf("SC_CLK_TCK")
        busy = (_cpu_times()[0] - self.b0) / tick if os.path.exists("/proc/stat") else 0.0
        t = os.times()
        own = (t.user + t.system + t.children_user + t.children_system) - (
            self.own0.user + self.own0.system + self.own0.children_user + self.own0.children_system)
        self.other_percent = 100 * max(busy - own, 0) / max(wall * (os.cpu_count() or 1), 1e-9)

    def verdict(self) -> str:
        return ("quiet" if self.other_percent < 10 else "NOISY: do not quote") + \
            f" (other processes used {self.other_percent:.0f}% of the machine)"


def alternate(variants: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median seconds per call of each variant, calling them in turn ``rounds`` times."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def machine_line() -> str:
    """The CPU, its capability and bf16 support, the torch version: printed with every figure
    (the same facts the fast-path cache is keyed by, from mosaicgan.fastpath)."""
    import torch

    from mosaicgan.fastpath import machine

    info = machine(torch.device("cpu"))
    return (f"machine: {info['cpu']}, {os.cpu_count()} cores ({info['threads']} torch "
            f"threads), torch {info['torch']}, CPU capability {info['capability']}, native "
            f"bf16 {'yes' if info['native_bf16'] else 'no'}"
            + (f", oneDNN ISA limited to {info['onednn_isa']}" if "onednn_isa" in info else ""))


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(row: list) -> str:
        return "| " + " | ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])
