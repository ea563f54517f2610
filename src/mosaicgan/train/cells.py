"""Training the cell-domain restorer (:mod:`mosaicgan.nets.cellnet`) on the shared loop.

The faithful end of the dial: a Charbonnier loss (a smooth L1) on the pixels, from cells
made on the fly (:class:`mosaicgan.data.cells.CellDataset`). Adam with EDSR's betas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..metrics import masked_psnr
from ..nets.cellnet import KIND, CellNetConfig, build_cellnet
from .precision import Amp, adam

CHARBONNIER_EPS = 1e-3


def charbonnier(fake: Tensor, real: Tensor) -> Tensor:
    return torch.sqrt((fake.float() - real.float()) ** 2 + CHARBONNIER_EPS ** 2).mean()


@dataclass(frozen=True)
class CellTrainConfig:
    """The network (:class:`CellNetConfig`) and how it is trained."""

    net: CellNetConfig = field(default_factory=CellNetConfig)
    lr: float = 2e-4
    beta1: float = 0.9
    beta2: float = 0.999
    cells: int = 24  # the training crop's side in cells

    def to_dict(self) -> dict:
        return {**self.net.to_dict(), "lr": self.lr, "beta1": self.beta1, "beta2": self.beta2,
                "cells": self.cells}

    @classmethod
    def from_dict(cls, d: dict) -> CellTrainConfig:
        train = {k: d[k] for k in ("lr", "beta1", "beta2", "cells") if k in d}
        return cls(CellNetConfig.from_dict({k: v for k, v in d.items() if k not in train}),
                   **train)


class CellTrainer:
    """The network, its optimiser and one step (a trainer of :mod:`.loop`)."""

    kind = KIND

    def __init__(self, cfg: CellTrainConfig, device: torch.device,
                 memory_format: torch.memory_format = torch.contiguous_format,
                 fused: bool = False):
        self.cfg = cfg
        self.memory_format = memory_format
        self.G = build_cellnet(cfg.net).to(device, memory_format=memory_format)
        self.opt_g = adam(self.G.parameters(), cfg.lr, (cfg.beta1, cfg.beta2), fused)

    def config_dict(self) -> dict:
        return self.cfg.to_dict()

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G": self.G}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g}

    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        pass

    def train_step(self, batch: dict, amp: Amp) -> dict[str, Tensor]:
        cells = batch["a"].contiguous(memory_format=self.memory_format)
        with amp.autocast():
            fake = self.G(cells)
            loss = charbonnier(fake, batch["b"])
        amp.step(loss, self.opt_g)
        return {"G_L1": loss.detach()}

    @torch.no_grad()
    def _restored(self, batch: dict, amp: Amp) -> Tensor:
        """The network's (ungated) output in [0, 1]."""
        was_training = self.G.training
        self.G.eval()
        try:
            with amp.autocast():
                return self.G(batch["a"]).float().clamp(0, 1)
        finally:
            self.G.train(was_training)

    def sample_masks(self, batch: dict) -> list[np.ndarray] | None:
        return [m[0].cpu().numpy().astype(bool) for m in batch["mask"]]

    def _sample_rows(self, batch: dict, amp: Amp) -> list[list[Tensor]]:
        """Rows of (mosaic | bicubic | output | target), each ``(3, H, W)`` in [0, 1]:
        ungated (the loop screens every panel before a sheet is written)."""
        out = self._restored(batch, amp).cpu()
        cells = batch["a"].float().cpu()
        scale = self.cfg.net.scale
        mosaic = F.interpolate(cells, scale_factor=scale, mode="nearest")
        bicubic = F.interpolate(cells, scale_factor=scale, mode="bicubic",
                                align_corners=False).clamp(0, 1)
        return [[mosaic[i], bicubic[i], out[i], batch["b"][i].cpu()] for i in range(len(out))]

    def validation_psnr(self, batch: dict, amp: Amp) -> tuple[float, float]:
        """(network, bicubic) PSNR in dB over a batch: how far the model is ahead."""
        return psnr_against_bicubic(self._restored(batch, amp), batch)


def psnr_against_bicubic(restored: Tensor, batch: dict) -> tuple[float, float]:
    """Mean PSNR (dB, over whole items) of ``restored`` ``(N, 3, H, W)`` in [0, 1] and of
    the bicubic interpolation of the batch's cells, against its targets."""
    scale = restored.shape[-1] // batch["a"].shape[-1]
    bicubic = F.interpolate(batch["a"].float(), scale_factor=scale, mode="bicubic",
                            align_corners=False)

    def image(t: Tensor) -> np.ndarray:
        return (t.float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()

    ours, base = [], []
    for out, bic, real in zip(restored, bicubic, batch["b"], strict=True):
        target = image(real)
        everywhere = np.ones(target.shape[:2], bool)
        ours.append(masked_psnr(image(out), target, everywhere))
        base.append(masked_psnr(image(bic), target, everywhere))
    return float(np.mean(ours)), float(np.mean(base))
