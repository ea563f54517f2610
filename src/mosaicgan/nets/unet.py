"""The pix2pix U-Net generator (Isola et al. 2017), written out level by level.

unet_256 = 8 levels (a 256 input reaches a 1x1 bottleneck), unet_128 = 7 levels.
Channels double from ``ngf`` up to ``8 * ngf``; the decoder blocks of the levels between
the fourth and the innermost use dropout 0.5 (three blocks for unet_256).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .init import norm_layer


class UNet(nn.Module):
    """U-Net with skip connections. ``(B, in, H, W)`` in [-1, 1] -> ``(B, out, H, W)`` tanh.

    H and W must be multiples of ``2 ** levels``.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, levels: int = 8,
                 ngf: int = 64, norm: str = "batch", dropout: float = 0.5):
        super().__init__()
        if levels < 2:
            raise ValueError(f"a U-Net needs at least 2 levels, got {levels}")
        self.levels = levels
        make_norm = norm_layer(norm)
        bias = norm == "instance"  # a batch norm's shift makes a conv bias redundant
        chans = [ngf * min(2 ** i, 8) for i in range(levels)]  # output of encoder level i

        self.down = nn.ModuleList()  # conv (+ norm); the LeakyReLU is applied in forward
        for i in range(levels):
            conv = nn.Conv2d(in_channels if i == 0 else chans[i - 1], chans[i], 4, 2, 1, bias=bias)
            has_norm = 0 < i < levels - 1  # none on the input layer or the 1x1 bottleneck
            self.down.append(nn.Sequential(conv, make_norm(chans[i])) if has_norm else conv)

        self.up = nn.ModuleList()  # self.up[i] mirrors self.down[i]
        for i in range(levels):
            in_c = chans[i] if i == levels - 1 else 2 * chans[i]
            if i == 0:
                self.up.append(nn.Sequential(nn.ReLU(True),
                                             nn.ConvTranspose2d(in_c, out_channels, 4, 2, 1),
                                             nn.Tanh()))
                continue
            layers: list[nn.Module] = [
                nn.ReLU(True),
                nn.ConvTranspose2d(in_c, chans[i - 1], 4, 2, 1, bias=bias),
                make_norm(chans[i - 1]),
            ]
            if 4 <= i < levels - 1 and dropout > 0:
                layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this."""
        return 2 ** self.levels

    def forward(self, x: Tensor) -> Tensor:
        # The skips carry the encoder activations after LeakyReLU, as in the reference
        # code (where an in-place activation of the next level rewrites them).
        skips = []
        for block in self.down[:-1]:
            x = F.leaky_relu(block(x), 0.2)
            skips.append(x)
        x = self.up[-1](self.down[-1](x))
        for i in range(self.levels - 2, -1, -1):
            x = self.up[i](torch.cat([skips.pop(), x], 1))
        return x
