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
              inside_weight: float | None = 1.0) -> Tensor:
    """Mean absolute error, pixels inside ``mask`` weighted ``inside_weight`` times.

    fake, real: ``(B, C, H, W)``; mask: ``(B, 1, H, W)`` bool or None. With weight 1 (or
    no mask) this is plain L1; the weights are normalised so the loss scale stays that of L1.
    inside_weight None: each image's mean error inside its mask, averaged over the batch (a
    per-image mean, so splitting a batch across processes gives the same gradients).
    """
    err = (fake.float() - real.float()).abs()
    if mask is not None and inside_weight is None:
        m = mask.float()
        per_image = (err * m).sum(dim=(1, 2, 3)) / (m.sum(dim=(1, 2, 3)) * err.shape[1])
        return per_image.clamp_min(0).nan_to_num(0.0).mean()
    if mask is None or inside_weight == 1.0:
        return err.mean()
    weight = 1.0 + (inside_weight - 1.0) * mask.float()
    return (err * weight).sum() / (weight.sum() * err.shape[1])


class FeatureLoss(nn.Module):
    """A perceptual loss as in SRGAN (Ledig et al. 2017): L1 between the feature maps of a
    frozen ImageNet network, here EfficientNet-Lite0 (offline) up to block ``depth``
    (default 5: 40 channels at 1/8 resolution, texture-level features).

    Inputs are images in [-1, 1], which is exactly EfficientNet-Lite0's normalisation.
    """

    def __init__(self, depth: int = 5):
        super().__init__()
        from ..nets.lite0 import load_lite0

        net = load_lite0()
        self.stem, self.bn0 = net._conv_stem, net._bn0
        self.blocks = nn.ModuleList(net._blocks[:depth])
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FeatureLoss:
        return super().train(False)  # frozen batch norms: always the ImageNet statistics

    def features(self, x: Tensor) -> Tensor:
        x = F.relu6(self.bn0(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, fake: Tensor, real: Tensor) -> Tensor:
        return F.l1_loss(self.features(fake).float(), self.features(real).float())
