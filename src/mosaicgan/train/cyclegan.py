"""CycleGAN (Zhu et al. 2017): two ResNet generators, two PatchGANs, LSGAN, cycle and
identity losses, image pools. The step order is the reference code's: generators first
(discriminators frozen), then each discriminator on real vs pooled fake.

G_A: A -> B, G_B: B -> A; D_A judges B images, D_B judges A images.
"""

from __future__ import annotations

from dataclasses import asdict
from itertools import chain

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nets import PatchGAN, init_weights
from ..nets.cyclegan import KIND, CycleGANConfig, build_generator
from .losses import GANLoss
from .pool import ImagePool
from .precision import Amp, adam, frozen


class CycleGAN:
    kind = KIND

    def __init__(self, cfg: CycleGANConfig, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 fused: bool = False):
        self.cfg = cfg
        if cfg.norm == "instance":
            # torch 2.13 on CPU: InstanceNorm2d with channels_last at batch 1 gives wrong
            # input gradients (relative error ~1.4). Keep instance-norm models contiguous.
            memory_format = torch.contiguous_format
        self.memory_format = memory_format
        self.device = device

        def place(net: torch.nn.Module) -> torch.nn.Module:
            return init_weights(net).to(device, memory_format=memory_format)

        self.G_A, self.G_B = place(build_generator(cfg)), place(build_generator(cfg))
        self.D_A = place(PatchGAN(3, cfg.ndf, cfg.d_layers, cfg.norm))
        self.D_B = place(PatchGAN(3, cfg.ndf, cfg.d_layers, cfg.norm))
        betas = (cfg.beta1, cfg.beta2)
        self.opt_g = adam(chain(self.G_A.parameters(), self.G_B.parameters()), cfg.lr, betas,
                          fused)
        self.opt_d = adam(chain(self.D_A.parameters(), self.D_B.parameters()), cfg.lr, betas,
                          fused)
        self.gan = GANLoss(cfg.gan_mode)
        self.pool_a, self.pool_b = ImagePool(cfg.pool_size), ImagePool(cfg.pool_size)

    def config_dict(self) -> dict:
        return asdict(self.cfg)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G_A": self.G_A, "G_B": self.G_B, "D_A": self.D_A, "D_B": self.D_B}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def extra_state(self) -> dict[str, Tensor]:
        state = {}
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            stacked = pool.state()
            if stacked is not None:
                state[name] = stacked
        return state

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        self.pool_a.load_state(tensors.get("pool_a"), self.device)
        self.pool_b.load_state(tensors.get("pool_b"), self.device)

    def _inputs(self, batch: dict) -> tuple[Tensor, Tensor]:
        fmt = self.memory_format
        return ((batch["a"] * 2 - 1).contiguous(memory_format=fmt),
                (batch["b"] * 2 - 1).contiguous(memory_format=fmt))

    def train_step(self, batch: dict, amp: Amp) -> dict[str, Tensor]:
        real_a, real_b = self._inputs(batch)
        cfg = self.cfg
        with frozen(self.D_A, self.D_B), amp.autocast():
            fake_b = self.G_A(real_a)
            rec_a = self.G_B(fake_b)
            fake_a = self.G_B(real_b)
            rec_b = self.G_A(fake_a)
            g_a = self.gan(self.D_A(fake_b), True)
            g_b = self.gan(self.D_B(fake_a), True)
            cycle_a = F.l1_loss(rec_a.float(), real_a) * cfg.lambda_a
            cycle_b = F.l1_loss(rec_b.float(), real_b) * cfg.lambda_b
            idt_a = idt_b = torch.zeros((), device=real_a.device)
            if cfg.lambda_identity > 0:
                # G_A should leave B images alone, and G_B A images.
                idt_a = F.l1_loss(self.G_A(real_b).float(), real_b) * cfg.lambda_b * \
                    cfg.lambda_identity
                idt_b = F.l1_loss(self.G_B(real_a).float(), real_a) * cfg.lambda_a * \
                    cfg.lambda_identity
            g_loss = g_a + g_b + cycle_a + cycle_b + idt_a + idt_b
        amp.step(g_loss, self.opt_g)

        pooled_b, pooled_a = self.pool_b.query(fake_b.detach()), self.pool_a.query(fake_a.detach())
        with amp.autocast():
            d_a = 0.5 * (self.gan(self.D_A(real_b), True) + self.gan(self.D_A(pooled_b), False))
            d_b = 0.5 * (self.gan(self.D_B(real_a), True) + self.gan(self.D_B(pooled_a), False))
        amp.step(d_a + d_b, self.opt_d)
        return {"G_A": g_a.detach(), "G_B": g_b.detach(), "cycle_A": cycle_a.detach(),
                "cycle_B": cycle_b.detach(), "idt_A": idt_a.detach(), "idt_B": idt_b.detach(),
                "D_A": d_a.detach(), "D_B": d_b.detach()}

    @torch.no_grad()
    def sample_masks(self, batch: dict) -> None:
        """No restored regions: every output panel is screened as a translation."""
        return None

    def _sample_rows(self, batch: dict, amp: Amp) -> list[list[Tensor]]:
        """Rows A -> B -> A, then B -> A -> B, images ``(3, H, W)`` in [0, 1]: ungated (the
        loop screens every panel before a sheet is written)."""
        real_a, real_b = self._inputs(batch)
        nets = (self.G_A, self.G_B)
        states = [n.training for n in nets]
        for n in nets:
            n.eval()
        try:
            with amp.autocast():
                fake_b, fake_a = self.G_A(real_a), self.G_B(real_b)
                rec_a, rec_b = self.G_B(fake_b), self.G_A(fake_a)
        finally:
            for n, s in zip(nets, states, strict=True):
                n.train(s)

        def img(t: Tensor) -> Tensor:
            return ((t.float() + 1) / 2).clamp(0, 1).cpu()

        rows = [[img(real_a[i]), img(fake_b[i]), img(rec_a[i])] for i in range(len(real_a))]
        rows += [[img(real_b[i]), img(fake_a[i]), img(rec_b[i])] for i in range(len(real_b))]
        return rows
