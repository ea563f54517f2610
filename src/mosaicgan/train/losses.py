"""GAN losses (vanilla = BCE with logits, lsgan = least squares) and a masked L1."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

GAN_MODES = ("vanilla", "lsgan")


class GANLoss(nn.Module):
    """``loss(logits, real)``: how far discriminator logits are from 'real' or 'fake'.

    Computed in float32 whatever precision the logits came in.
    """

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"unknown GAN mode {mode!r}; choose one of {', '.join(GAN_MODES)}")
        self.mode = mode

    def forward(self, logits: Tensor, real: bool) -> Tensor:
        logits = logits.float()
        target = torch.full_like(logits, 1.0 if real else 0.0)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(logits, target)
        return F.mse_loss(logits, target)


def masked_l1(fake: Tensor, real: Tensor, mask: Tensor | None = None,
              inside_weight: float = 1.0) -> Tensor:
    """Mean absolute error, pixels inside ``mask`` weighted ``inside_weight`` times.

    fake, real: ``(B, C, H, W)``; mask: ``(B, 1, H, W)`` bool or None. With weight 1 (or
    no mask) this is plain L1; the weights are normalised so the loss scale stays that of L1.
    """
    err = (fake.float() - real.float()).abs()
    if mask is None or inside_weight == 1.0:
        return err.mean()
    weight = 1.0 + (inside_weight - 1.0) * mask.float()
    return (err * weight).sum() / (weight.sum() * err.shape[1])
