"""The training step's fast path, measured at the start of a run (:mod:`..models.fastpath`
holds the rule and the cache).

Each candidate gets its own trainer, built from the run's seed (so every candidate starts
from the same weights) and stepped on the run's first batch: one untimed warm-up step,
whose losses are compared with fp32's, then a few timed steps. The trainers are thrown
away: the run itself starts afterwards from a fresh seed, untouched by the measurement.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..models.fastpath import Decision, FastPath, candidates, choose
from .precision import Amp, fused_adam

# The first step's losses of a candidate may differ from fp32's by this much (relative,
# against at least 1e-3). bf16 keeps 8 mantissa bits (0.4 % per rounding); through a
# U-Net's 16 layers a loss moves ~1 %, while a broken path (an overflow, NaN, the wrong
# gradients of instance norm + channels_last, relative error ~1.4) is far beyond 5 %.
LOSS_TOLERANCE = 0.05


def loss_gap(result: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest relative gap between two vectors of losses (inf when not finite)."""
    if not torch.isfinite(result).all():
        return float("inf")
    return float(((result - reference).abs() / reference.abs().clamp(min=1e-3)).max())


def training_path(make_trainer: Callable[[torch.device, torch.memory_format, bool], Any],
                  batch: dict, device: torch.device, *, precision: str = "auto",
                  channels_last: bool | None = None, seed: int = 0,
                  workload: dict[str, Any] | None = None,
                  use_cache: bool = True, timer: Callable[[], float] | None = None
                  ) -> Decision:
    """The fastest training path here for this trainer and batch (see the module)."""
    paths = candidates(device, precision, channels_last)
    built: set[tuple[str, bool]] = set()

    def prepare(path: FastPath) -> Callable[[], torch.Tensor] | None:
        torch.manual_seed(seed)
        trainer = make_trainer(device, path.memory_format, fused_adam(device))
        # A trainer may keep itself contiguous (instance norm): then it is a path seen before.
        kept = getattr(trainer, "memory_format", path.memory_format) == torch.channels_last
        if (path.precision, kept) in built:
            return None
        built.add((path.precision, kept))
        amp = Amp(device, path.precision)

        def step() -> torch.Tensor:
            torch.manual_seed(seed)  # the same dropout and pool draws for every candidate
            losses = trainer.train_step(batch, amp)
            out = torch.stack([losses[k].float() for k in sorted(losses)]).cpu()
            return out  # .cpu() waits for the GPU, so the timing is the step's

        return step

    return choose(paths, prepare, loss_gap, LOSS_TOLERANCE, device,
                  {"task": "train", **(workload or {})}, use_cache=use_cache, timer=timer)
