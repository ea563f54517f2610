"""The PatchGAN discriminator: a grid of real/fake logits, one per overlapping patch.

With 3 layers (the default) each logit sees a 70x70 patch of the input.
"""

from __future__ import annotations

from torch import Tensor, nn

from .init import norm_layer


class PatchGAN(nn.Module):
    """``(B, in, H, W)`` in [-1, 1] -> ``(B, 1, H', W')`` logits."""

    def __init__(self, in_channels: int, ndf: int = 64, layers: int = 3, norm: str = "batch"):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        seq: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < layers else 1
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                    make_norm(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*seq)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
