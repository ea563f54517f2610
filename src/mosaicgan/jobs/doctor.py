"""What mosaicgan chose on this machine and why: the machine facts its fast paths are keyed
by, and every cached fast-path decision (what was chosen, when, each candidate's time)."""

from __future__ import annotations

from typing import Any

import torch

from ..fastpath import cache_path, cached_decisions, format_seconds, machine


def machine_summary(info: dict[str, Any]) -> str:
    """:func:`mosaicgan.fastpath.machine`'s facts on one line."""
    parts = [f"{k} {v}" for k, v in info.items() if k != "libraries"]
    libraries = ", ".join(f"{k} {v}" for k, v in info["libraries"].items())
    return "; ".join(parts) + (f"; libraries: {libraries}" if libraries else "")


def decision_lines(entry: dict[str, Any], *here: dict[str, Any]) -> list[str]:
    """One decision as lines: its workload, what was chosen when, each candidate's time,
    the rejected ones and why, and whether it was measured on a machine like this one
    (one of ``here``: this machine's facts as each kind of decision is keyed by them)."""
    workload = entry.get("workload", {})
    shown = ("use", "task", "model", "kind", "pixels", "channels", "batch", "size")
    what = ", ".join(f"{k} {v}" for k, v in sorted(workload.items()) if k in shown)
    if workload.get("task") == "conv":  # one convolution's Winograd decision
        shape = "x".join(map(str, workload.get("input_shape", [])))
        what = (f"convolution {workload.get('kind')} {workload.get('in_channels')}->"
                f"{workload.get('out_channels')} on {shape}"
                f"{', with gradients' if workload.get('grad') else ''}")
    seconds = entry.get("seconds", {})
    times = ", ".join(f"{k} {format_seconds(v)}" for k, v in sorted(seconds.items(),
                                                            key=lambda kv: kv[1]))
    same = entry.get("machine") in here
    lines = [f"{what or 'workload'}: {entry.get('chosen')} (measured "
             f"{entry.get('measured_at', '?')}{'' if same else '; on another setup: unused here'})",
             f"  per call: {times or '-'}"]
    lines += [f"  rejected {k}: {v}" for k, v in entry.get("rejected", {}).items()]
    return lines


def doctor_report(device: torch.device | None = None) -> list[str]:
    """The lines ``mosaicgan doctor`` prints."""
    here = machine(device or torch.device("cpu"))
    runtimes = machine(None)  # the facts the detectors' runtime choices are keyed by
    decisions = cached_decisions()
    lines = [f"machine: {machine_summary(here)}",
             f"fast-path cache: {cache_path()} ({len(decisions)} decision(s))"]
    for entry in sorted((e for e in decisions.values() if isinstance(e, dict)),
                        key=lambda e: e.get("measured_at", ""), reverse=True):
        lines += decision_lines(entry, here, runtimes)
    return lines
