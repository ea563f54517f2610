"""The pix2pix generator as saved and rebuilt: its config, how it is built, its input and output.

Training (:mod:`mosaicgan.train.pix2pix`) and inference (:mod:`mosaicgan.models`) both build
the generator from here, so inference never imports training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .unet import UNet

KIND = "pix2pix"
# What fixes a generator's weights' shapes and meaning: fine-tuning keeps these, and two
# generators interpolate (the sharpness dial) only when they agree on them.
GENERATOR_SHAPE = ("size", "mask_channel", "residual", "prefill", "ngf", "norm")
PREFILLS = ("none", "bicubic")


@dataclass(frozen=True)
class Pix2PixConfig:
    """Everything that defines the model; saved in every checkpoint, used to rebuild it."""

    size: int = 256  # training crop; the U-Net has log2(size) levels (unet_256: 8)
    mask_channel: bool = True  # the mask is a 4th input channel (restoration)
    residual: bool = False  # restoration: output = input + correction, inside the mask only
    # restoration: the mosaic's cells are first replaced by a bicubic interpolation of
    # their means ("bicubic"), so the generator starts from that baseline; or "none"
    prefill: str = "none"
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 3  # 3 = 70x70 PatchGAN
    norm: str = "batch"
    dropout: float = 0.5
    gan_mode: str = "vanilla"  # or "lsgan"
    lambda_l1: float = 100.0
    gan_weight: float = 1.0  # weight of the cGAN loss; 0 = no discriminator (L1 regression)
    # L1 weight inside the mask relative to outside: for a non-residual generator with
    # the mask channel (a residual one measures L1 inside the mask only)
    mask_l1_weight: float = 1.0
    perceptual_weight: float = 0.0  # SRGAN-style feature loss (EfficientNet-Lite0), 0 = off
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def __post_init__(self) -> None:
        levels = math.log2(self.size) if self.size > 0 else 0
        if levels != int(levels) or not 3 <= levels <= 11:
            raise ValueError(f"size must be a power of two from 8 to 2048, got {self.size}")
        if self.gan_weight < 0:
            raise ValueError(f"gan_weight must be at least 0, got {self.gan_weight}")
        if self.residual and self.mask_l1_weight != 1.0:
            raise ValueError("mask_l1_weight has no effect on a residual generator (its L1 is "
                             "measured inside the mask only); leave it at 1")
        if self.prefill not in PREFILLS:
            raise ValueError(f"prefill must be one of {', '.join(PREFILLS)}, got {self.prefill!r}")

    @property
    def levels(self) -> int:
        return int(math.log2(self.size))

    @property
    def in_channels(self) -> int:
        return 4 if self.mask_channel else 3

    @classmethod
    def from_dict(cls, d: dict) -> Pix2PixConfig:
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown pix2pix config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


class MaskedResidual(nn.Module):
    """A restoration generator: the U-Net's output is a correction added to the input
    image, and only inside the mask (outside it the input passes through exactly).

    It starts from its input (the mosaic, or its bicubic prefill: a zeroed last layer
    outputs 0), and every gradient goes to the region that matters, so it learns far faster
    than a full-image pix2pix generator.
    Input ``(B, 4, H, W)``: image and mask channel in [-1, 1]; output ``(B, 3, H, W)``.
    """

    def __init__(self, unet: UNet):
        super().__init__()
        self.unet = unet

    def start_as_identity(self) -> MaskedResidual:
        """Zero the U-Net's last layer: the correction starts at exactly 0."""
        last = self.unet.up[0][1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        return self

    @property
    def multiple(self) -> int:
        return self.unet.multiple

    def forward(self, x: Tensor) -> Tensor:
        image, mask = x[:, :3], (x[:, 3:4] + 1) / 2
        corrected = (image + 2 * self.unet(x)).clamp(-1, 1)
        return image + mask * (corrected - image)


def build_generator(cfg: Pix2PixConfig) -> nn.Module:
    unet = UNet(cfg.in_channels, 3, cfg.levels, cfg.ngf, cfg.norm, cfg.dropout)
    if cfg.residual:
        if not cfg.mask_channel:
            raise ValueError("residual restoration needs the mask channel")
        return MaskedResidual(unet)
    return unet


def generator_input(image: Tensor, mask: Tensor | None, mask_channel: bool) -> Tensor:
    """Network input in [-1, 1]: image ``(B, 3, H, W)`` in [0, 1], plus the mask channel."""
    x = image * 2 - 1
    if mask_channel:
        if mask is None:
            mask = torch.ones_like(image[:, :1], dtype=torch.bool)
        x = torch.cat([x, mask.to(x.dtype) * 2 - 1], 1)
    return x


def generator_output(y: Tensor) -> Tensor:
    """tanh output -> ``(B, 3, H, W)`` in [0, 1]."""
    return (y.float() + 1) / 2
