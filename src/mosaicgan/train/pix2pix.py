"""pix2pix (Isola et al. 2017): U-Net generator, 70x70 PatchGAN, loss = cGAN + lambda * L1.

For restoration the generator's input is the mosaiced image plus the mask as a 4th
channel, and L1 may weigh pixels inside the mask more. The step order is the reference
code's: G forward; D step on (input, fake.detach()) and (input, real); G step with D frozen.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch import Tensor

from ..nets import PatchGAN, init_weights
from ..nets.pix2pix import (
    KIND,
    MaskedResidual,
    Pix2PixConfig,
    build_generator,
    generator_input,
    generator_output,
)
from .losses import FeatureLoss, GANLoss, masked_l1
from .precision import Amp, adam, frozen


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
    def _translate(self, batch: dict, amp: Amp) -> Tensor:
        """Generator output (ungated) in [0, 1] with dropout off (as at inference)."""
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

    def _sample_rows(self, batch: dict, amp: Amp) -> list[list[Tensor]]:
        """Rows of (input | output | target) images, each ``(3, H, W)`` in [0, 1]: ungated
        (the loop screens every panel before a sheet is written)."""
        out = self._translate(batch, amp).cpu()
        return [[batch["a"][i].cpu(), out[i], batch["b"][i].cpu()] for i in range(len(out))]
