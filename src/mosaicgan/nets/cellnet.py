"""The cell-domain restorer: a mosaic is a low-resolution picture, one value per cell, and
removing it is super-resolution by the block size with a known kernel (the cell mean).

The network runs at the cells' resolution (a block-8 region carries 64x fewer values than
its pixels), as super-resolution networks do (EDSR, RCAN), and upsamples once at its end
by a fixed ``scale`` (pixel shuffles). Its output is a correction to the bicubic
interpolation of the cells, so an untrained network is the bicubic baseline.

One model serves every block size: natural photos look alike across scales, so the cells
of a block-16 mosaic are those of a block-8 mosaic of the photo at half size. The network
sees only cells (it never knows the block) and its ``scale``-px output per cell is
resampled to the mosaic's block (:mod:`mosaicgan.models.cell_restorer`).

Families (chosen by measurement, ``benchmarks/cell_families.py``): ``edsr`` (residual
blocks, no normalisation), ``rcan`` (the same with channel attention in each block).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..options import CELL_FAMILIES

KIND = "cells"
FAMILIES = CELL_FAMILIES


@dataclass(frozen=True)
class CellNetConfig:
    """What defines a cell restorer; saved in every checkpoint, used to rebuild it."""

    family: str = "edsr"
    channels: int = 64  # features per cell in the body
    blocks: int = 12  # residual blocks in the body
    scale: int = 8  # px per cell of the output (a power of two)
    res_scale: float = 0.1  # each block's residual is scaled (EDSR), for stable training

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, "
                             f"got {self.family!r}")
        levels = math.log2(self.scale) if self.scale > 0 else 0.5
        if levels != int(levels) or not 1 <= levels <= 5:
            raise ValueError(f"scale must be a power of two from 2 to 32, got {self.scale}")
        if self.channels < 8 or self.blocks < 1:
            raise ValueError("channels must be at least 8 and blocks at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_saved(cls, config: dict) -> CellNetConfig:
        """The network's fields of a saved config (a checkpoint's also records how the
        network was trained)."""
        return cls(**{k: v for k, v in config.items() if k in cls.__dataclass_fields__})

    @classmethod
    def from_dict(cls, d: dict) -> CellNetConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown cell restorer config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


class ChannelAttention(nn.Module):
    """Squeeze and excitation (RCAN): each channel weighted by a function of all means."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(4, channels // reduction)
        self.fc = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(hidden, channels, 1), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.fc(x.mean((2, 3), keepdim=True))


class ResBlock(nn.Module):
    def __init__(self, channels: int, res_scale: float, attention: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, padding=1),
                                   nn.ReLU(inplace=True),
                                   nn.Conv2d(channels, channels, 3, padding=1)]
        if attention:
            layers.append(ChannelAttention(channels))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res_scale * self.body(x)


class CellNet(nn.Module):
    """``(N, 3, h, w)`` cell colours in [0, 1] -> ``(N, 3, h*scale, w*scale)`` pixels."""

    def __init__(self, cfg: CellNetConfig):
        super().__init__()
        c = cfg.channels
        self.scale = cfg.scale
        self.head = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(*[ResBlock(c, cfg.res_scale, cfg.family == "rcan")
                                    for _ in range(cfg.blocks)],
                                  nn.Conv2d(c, c, 3, padding=1))
        # Upsampling by 2 per stage, halving the features (down to 16) as the maps grow:
        # the cost of the tail stays near the body's.
        stages: list[nn.Module] = []
        width = c
        for _ in range(int(math.log2(cfg.scale))):
            out = max(16, width // 2)
            stages += [nn.Conv2d(width, 4 * out, 3, padding=1), nn.PixelShuffle(2),
                       nn.ReLU(inplace=True)]
            width = out
        stages.append(nn.Conv2d(width, 3, 3, padding=1))
        self.tail = nn.Sequential(*stages)
        nn.init.zeros_(self.tail[-1].weight)  # starts as the bicubic baseline
        nn.init.zeros_(self.tail[-1].bias)

    def forward(self, cells: Tensor) -> Tensor:
        base = F.interpolate(cells, scale_factor=self.scale, mode="bicubic",
                             align_corners=False)
        features = self.head(cells - 0.5)
        return base + self.tail(features + self.body(features))


def build_cellnet(cfg: CellNetConfig) -> CellNet:
    return CellNet(cfg)


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def macs_per_cell(cfg: CellNetConfig) -> int:
    """Multiply-accumulates per input cell (convolutions only): the network's cost."""
    c, k = cfg.channels, 9
    total = 3 * c * k + (2 * cfg.blocks + 1) * c * c * k
    width, area = c, 1
    for _ in range(int(math.log2(cfg.scale))):
        out = max(16, width // 2)
        total += area * width * 4 * out * k
        width, area = out, area * 4
    return total + area * width * 3 * k
