"""pix2pix (Isola et al. 2017): U-Net generator, 70x70 PatchGAN, loss = cGAN + lambda * L1.

For restoration the generator's input is the mosaiced image plus the mask as a 4th
channel, and L1 may weigh pixels inside the mask more. The step order is the reference
code's: G forward; D step on (input, fake.detach()) and (input, real); G step with D frozen.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn

from ..nets import PatchGAN, UNet, init_weights
from .losses import FeatureLoss, GANLoss, masked_l1
from .precision import Amp, adam, frozen

KIND = "pix2pix"
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
    mask_l1_weight: float = 1.0  # L1 weight inside the mask relative to outside (not residual)
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


class Pix2Pix:
    """The two networks, their optimisers and one training step."""

    kind = KIND

    def __init__(self, cfg: Pix2PixConfig, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 fused: bool = False):
        self.cfg = cfg
        self.memory_format = memory_format
        self.G = init_weights(build_generator(cfg))
        if isinstance(self.G, MaskedResidual):
            self.G.start_as_identity()
        self.G = self.G.to(device, memory_format=memory_format)
        self.D = init_weights(PatchGAN(cfg.in_channels + 3, cfg.ndf, cfg.d_layers, cfg.norm)).to(
            device, memory_format=memory_format)
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = adam(self.G.parameters(), cfg.lr, betas, fused)
        self.opt_d = adam(self.D.parameters(), cfg.lr, betas, fused)
        self.gan = GANLoss(cfg.gan_mode)
        self.perceptual = None
        if cfg.perceptual_weight > 0:
            self.perceptual = FeatureLoss().to(device, memory_format=memory_format)

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        pass

    def _inputs(self, batch: dict) -> tuple[Tensor, Tensor, Tensor]:
        x = generator_input(batch["a"], batch["mask"], self.cfg.mask_channel)
        y = batch["b"] * 2 - 1
        return (x.contiguous(memory_format=self.memory_format),
                y.contiguous(memory_format=self.memory_format), batch["mask"])

    def train_step(self, batch: dict, amp: Amp) -> dict[str, Tensor]:
        """One D step and one G step (only the G step without a cGAN loss). Returns
        detached losses (no host sync)."""
        x, y, mask = self._inputs(batch)
        with amp.autocast():
            fake = self.G(x)
        losses: dict[str, Tensor] = {}
        adversarial = self.cfg.gan_weight > 0
        if adversarial:
            with amp.autocast():
                d_fake = self.D(torch.cat([x, fake.detach()], 1))
                d_real = self.D(torch.cat([x, y], 1))
                d_loss = 0.5 * (self.gan(d_fake, False) + self.gan(d_real, True))
            amp.step(d_loss, self.opt_d)

        with frozen(self.D), amp.autocast():
            # A residual restorer changes only the mask: L1 is its mean error there.
            l1 = masked_l1(fake, y, mask, None if self.cfg.residual else self.cfg.mask_l1_weight)
            g_loss = self.cfg.lambda_l1 * l1
            if adversarial:
                g_gan = self.gan(self.D(torch.cat([x, fake], 1)), True)
                g_loss = g_loss + self.cfg.gan_weight * g_gan
                losses.update(G_gan=g_gan.detach(), D=d_loss.detach())
            losses["G_L1"] = l1.detach()
            if self.perceptual is not None:
                feat = self.perceptual(fake, y)
                g_loss = g_loss + self.cfg.perceptual_weight * feat
                losses["G_feat"] = feat.detach()
        amp.step(g_loss, self.opt_g)
        return losses

    @torch.no_grad()
    def translate(self, batch: dict, amp: Amp) -> Tensor:
        """Generator output in [0, 1] with dropout off (as at inference)."""
        x, _, _ = self._inputs(batch)
        was_training = self.G.training
        self.G.eval()
        try:
            with amp.autocast():
                return generator_output(self.G(x))
        finally:
            self.G.train(was_training)

    def sample_masks(self, batch: dict) -> list[np.ndarray] | None:
        """The restored regions of the sample rows (None for A|B translation)."""
        if not self.cfg.mask_channel:
            return None
        return [m[0].cpu().numpy().astype(bool) for m in batch["mask"]]

    def sample_rows(self, batch: dict, amp: Amp) -> list[list[Tensor]]:
        """Rows of (input | output | target) images, each ``(3, H, W)`` in [0, 1]."""
        out = self.translate(batch, amp).cpu()
        return [[batch["a"][i].cpu(), out[i], batch["b"][i].cpu()] for i in range(len(out))]
