"""The training step's fast path, measured at the start of a run (:mod:`mosaicgan.fastpath`
holds the rule and the cache).

Each candidate gets its own trainer, built from the run's seed (so every candidate starts
from the same weights) and stepped on the run's first batch: one untimed warm-up step,
whose losses are compared with fp32's, then a few timed steps. The trainers are thrown
away: the run itself starts afterwards from a fresh seed, untouched by the measurement.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import torch

from ..fastpath import PLAIN, Decision, FastPath, candidates, choose
from ..nets import winograd
from ..nets.winograd import ConvShape, use_winograd, weight_shape
from .precision import Amp, fused_adam

# The first step's losses of a candidate may differ from fp32's by this much (relative,
# against at least 1e-3). bf16 keeps 8 mantissa bits (0.4 % per rounding); through a
# U-Net's 16 layers a loss moves ~1 %, while a broken path (an overflow, NaN, the wrong
# gradients of instance norm + channels_last, relative error ~1.4) is far beyond 5 %.
LOSS_TOLERANCE = 0.05
# A Winograd convolution's output and gradients may differ from the direct one's by this
# much (largest error over largest value): each kind in fp32 measures ~1e-5.
WINOGRAD_TOLERANCE = 1e-3


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
    paths = candidates(device, precision, channels_last, winograd=True)
    built: set[tuple[str, bool, bool]] = set()

    def build(path: FastPath) -> Any:
        torch.manual_seed(seed)
        trainer = make_trainer(device, path.memory_format, fused_adam(device))
        return trainer if not path.winograd or apply_path(trainer, path) else None

    def prepare(path: FastPath) -> Callable[[], torch.Tensor] | None:
        trainer = build(path)
        if trainer is None:
            return None  # no convolution to switch: the same as plain fp32
        if path.winograd:
            # Each convolution's shape is measured the first time it runs: on a throw-away
            # step, so that the candidate's warm-up (its losses, its hopelessness) is the
            # path's own; the timed trainer starts afresh from the seed.
            torch.manual_seed(seed)
            trainer.train_step(batch, Amp(device, path.precision))
            trainer = build(path)
        # A trainer may keep itself contiguous (instance norm): then it is a path seen before.
        kept = getattr(trainer, "memory_format", path.memory_format) == torch.channels_last
        if (path.precision, kept, path.winograd) in built:
            return None
        built.add((path.precision, kept, path.winograd))
        amp = Amp(device, path.precision)

        def step() -> torch.Tensor:
            torch.manual_seed(seed)  # the same dropout and pool draws for every candidate
            losses = trainer.train_step(batch, amp)
            out = torch.stack([losses[k].float() for k in sorted(losses)]).cpu()
            return out  # .cpu() waits for the GPU, so the timing is the step's

        return step

    return choose(paths, prepare, loss_gap, LOSS_TOLERANCE, device,
                  {"task": "train", **(workload or {})}, use_cache=use_cache, timer=timer)


def apply_path(trainer: Any, path: FastPath) -> int:
    """What of ``path`` is applied to a built trainer's networks rather than at their
    construction: Winograd convolutions (each call's shape measured the first time it
    runs). The number of convolutions switched."""
    if not path.winograd:
        return 0
    return use_winograd(trainer.modules().values(), winograd_wins)


@functools.cache
def winograd_wins(conv: ConvShape) -> bool:
    """Whether a convolution call of this shape is faster by Winograd than directly on
    this machine (forward, and backward when it needs gradients): measured once, cached
    like every path."""
    decision = choose([PLAIN, FastPath(winograd=True)], lambda path: _conv_call(path, conv),
                      relative_error, WINOGRAD_TOLERANCE, torch.device("cpu"),
                      {"task": "conv", **asdict(conv), "input_shape": list(conv.input_shape)})
    return decision.path.winograd


def _conv_call(path: FastPath, conv: ConvShape) -> Callable[[], torch.Tensor]:
    """One call of the convolution on random data, by Winograd or directly as ``path``
    says, returning its output (and, when ``conv.grad``, the input's and weight's
    gradients)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(conv.input_shape, generator=gen).requires_grad_(conv.grad)
    shape = weight_shape(conv.kind, conv.in_channels, conv.out_channels)
    fan_in = conv.in_channels * shape[-1] * shape[-2]
    w = (torch.randn(shape, generator=gen) / fan_in ** 0.5).requires_grad_(conv.grad)
    compute = winograd.fast if path.winograd else winograd.direct

    def call() -> torch.Tensor:
        with torch.enable_grad() if conv.grad else torch.no_grad():
            y = compute(conv.kind, x, w, None, conv.padding)
            if not conv.grad:
                return y.flatten()
            gx, gw = torch.autograd.grad(y, (x, w), torch.ones_like(y) / y.numel() ** 0.5)
        return torch.cat([y.detach().flatten(), gx.flatten(), gw.flatten()])
    return call


def relative_error(result: torch.Tensor, reference: torch.Tensor) -> float:
    """Largest error over the largest value (inf when not finite)."""
    if not torch.isfinite(result).all():
        return float("inf")
    return float((result - reference).abs().max() / reference.abs().max().clamp(min=1e-12))
