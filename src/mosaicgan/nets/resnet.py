"""The CycleGAN ResNet generator (Johnson et al. 2016, as used by Zhu et al. 2017).

c7s1-ngf, two stride-2 downsamplings, ``blocks`` residual blocks (9 at 256, 6 at 128),
two upsamplings, c7s1-out with tanh. Reflection padding; instance norm by default.
"""

from __future__ import annotations

from torch import Tensor, nn

from .init import norm_layer


class ResnetBlock(nn.Module):
    def __init__(self, channels: int, norm: str, dropout: float = 0.0):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(1),
                                   nn.Conv2d(channels, channels, 3, bias=bias),
                                   make_norm(channels), nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=bias),
                   make_norm(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """``(B, in, H, W)`` in [-1, 1] -> ``(B, out, H, W)`` tanh. H, W multiples of 4."""

    multiple = 4

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 64,
                 blocks: int = 9, norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        make_norm = norm_layer(norm)
        bias = norm == "instance"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3),
                                   nn.Conv2d(in_channels, ngf, 7, bias=bias),
                                   make_norm(ngf), nn.ReLU(True)]
        for i in range(2):
            c = ngf * 2 ** i
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1, bias=bias), make_norm(2 * c), nn.ReLU(True)]
        layers += [ResnetBlock(ngf * 4, norm, dropout) for _ in range(blocks)]
        for i in range(2):
            c = ngf * 2 ** (2 - i)
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1, bias=bias),
                       make_norm(c // 2), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
