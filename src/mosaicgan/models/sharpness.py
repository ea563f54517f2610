"""The sharpness dial: one restorer's generator interpolated, weight by weight, between a
*faithful* model (an L1 regression: the best PSNR, a smooth guess) and a *sharp* one
fine-tuned from it with an adversarial and a feature loss (plausible detail, lower PSNR).

This is network interpolation (Wang et al., ESRGAN 2018; "Deep Network Interpolation",
2019): both networks share an architecture and the sharp one starts from the faithful
one's weights, so ``(1 - alpha) * faithful + alpha * sharp`` is a network too, with the
same cost at every alpha. alpha 0 is the faithful model exactly, alpha 1 the sharp one.

A pair is known from the sharp side: a model fine-tuned with ``train --init-from`` records
the model it started from (``args.init_from`` in a run, ``fine_tuned_from`` in an exported
JSON). The shipped default restorer is the faithful half of the shipped pair.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ArgumentError, InputError, ModelError, MosaicganError
from ..nets.pix2pix import GENERATOR_SHAPE
from .checkpoint import Checkpoint, find_checkpoint_json, load_checkpoint
from .shipped import default_model, sharp_model

FINE_TUNED_FROM = "fine_tuned_from"  # an exported model's JSON: the model it started from
SHIPPED = "default"  # how a JSON names the shipped default restorer (portable)


def check_sharpness(alpha: float) -> float:
    """``alpha`` as a float in [0, 1], or an ArgumentError saying what it must be."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        raise ArgumentError(f"sharpness must be a number from 0 (faithful) to 1 (sharp), "
                            f"got {alpha!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ArgumentError(f"sharpness must be between 0 (faithful) and 1 (sharp), "
                            f"got {alpha}")
    return value


@dataclass
class ModelPair:
    """The two ends of the dial, loaded."""

    faithful: Checkpoint
    sharp: Checkpoint

    def describe(self, alpha: float) -> str:
        return f"{self.sharp.path} at sharpness {alpha:g} (0: {self.faithful.path})"

    def key(self) -> str:
        """Names the pair's weights (both tensor files: path, size, modification time):
        the points between one dial's ends share a backend decision, so a new sharpness is
        not measured again (a network's speed does not depend on its weights' values)."""
        parts = []
        for c in (self.faithful, self.sharp):
            tensors = (c.path.parent / c.meta["tensors"]).resolve()
            stat = tensors.stat()
            parts.append(f"{tensors}:{stat.st_size}:{stat.st_mtime_ns}")
        return "dial " + hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def recorded_source(meta: dict) -> str | None:
    """What a model's JSON ``meta`` records it was fine-tuned from, as written (an exported
    model's ``fine_tuned_from``, a run's ``args.init_from``; None: nothing)."""
    return meta.get(FINE_TUNED_FROM) or (meta.get("args") or {}).get("init_from")


def _is_shipped_default(json_path: Path) -> bool:
    try:
        return json_path.resolve() == default_model().resolve()
    except InputError:  # (an installation without it)
        return False


def fine_tuned_from(ckpt: Checkpoint) -> Path | None:
    """The model ``ckpt`` was fine-tuned from, if it records one (a path relative to its
    JSON's folder, an absolute one, or ``default``: the shipped restorer)."""
    source = recorded_source(ckpt.meta)
    if not source:
        return None
    if source == SHIPPED:
        return default_model()
    path = Path(source)
    return path if path.is_absolute() else ckpt.path.parent / path


def has_dial(model: str | Path) -> bool:
    """Whether ``model`` (``default``, a run folder or a model JSON) has a sharpness dial:
    the shipped pair, or a model that records what it was fine-tuned from. Reads the JSON
    only."""
    try:
        path = default_model() if str(model) == SHIPPED else find_checkpoint_json(model)
        if _is_shipped_default(path):
            return sharp_model().is_file()
        return bool(recorded_source(json.loads(path.read_text())))
    except (OSError, ValueError, MosaicganError):
        return False


def model_pair(ckpt: Checkpoint) -> ModelPair:
    """The pair ``ckpt`` belongs to: the shipped default with the shipped sharp model, or a
    sharp model with the model it was fine-tuned from. A ModelError when it has none, or
    when the two generators differ in shape."""
    if _is_shipped_default(ckpt.path):
        pair = ModelPair(ckpt, load_checkpoint(sharp_model()))
    else:
        source = fine_tuned_from(ckpt)
        if source is None:
            raise ModelError(f"{ckpt.path}: has no sharp or faithful partner to interpolate "
                             "with (--sharpness needs the default model, or a model "
                             "fine-tuned from another with train --init-from)")
        pair = ModelPair(load_checkpoint(source), ckpt)
    differ = [k for k in GENERATOR_SHAPE
              if pair.faithful.config.get(k) != pair.sharp.config.get(k)]
    if pair.faithful.kind != pair.sharp.kind or differ:
        raise ModelError(f"{pair.sharp.path}: its generator differs from that of "
                         f"{pair.faithful.path} ({', '.join(differ) or 'kind'}); the two "
                         "cannot be interpolated")
    return pair


def interpolate_states(faithful: dict[str, torch.Tensor], sharp: dict[str, torch.Tensor],
                       alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) * faithful + alpha * sharp`` for every floating tensor (integer ones,
    such as batch-norm counters, are the faithful model's); alpha 0 and 1 return the two
    state dicts' own tensors, so each end is that model exactly."""
    alpha = check_sharpness(alpha)
    if faithful.keys() != sharp.keys():
        missing = sorted(set(faithful) ^ set(sharp))
        raise ModelError(f"the two models' weights differ in their names ({missing[0]}, ...)")
    if alpha == 0.0:
        return dict(faithful)
    if alpha == 1.0:
        return dict(sharp)
    out = {}
    for key, a in faithful.items():
        b = sharp[key]
        if a.shape != b.shape:
            raise ModelError(f"the two models' weights differ in shape at {key}")
        out[key] = (torch.lerp(a.float(), b.float(), alpha).to(a.dtype)
                    if a.is_floating_point() else a)
    return out


def load_interpolated(pair: ModelPair, alpha: float, prefix: str,
                      module: torch.nn.Module) -> None:
    """Load ``module`` with the pair's ``prefix`` weights at ``alpha``."""
    state = interpolate_states(pair.faithful.state_dict(prefix), pair.sharp.state_dict(prefix),
                               alpha)
    if not state:
        raise ModelError(f"{pair.faithful.path}: holds no weights for {prefix!r}")
    # Weights are loaded in the module's own dtype (an fp16 file loads as fp32).
    module.load_state_dict(state, strict=True)
