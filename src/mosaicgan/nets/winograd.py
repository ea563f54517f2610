"""Convolutions by Winograd's minimal filtering (Lavin & Gray 2016): fewer multiplications.

F(m, r) computes m outputs of an r-tap correlation from n = m + r - 1 inputs with n
multiplications instead of m * r; in 2-D an n x n tile of the input gives an m x m tile
of the output, and the convolution becomes n * n matrix products (input channels by
output channels) in a transformed domain, with cheap linear transforms around them. Every
kind here uses 6 x 6 tiles (the interpolation points 0, +-1, +-2 and infinity, whose fp32
results stay within ~1e-5 relative of the direct convolution's):

- ``conv3x3``: 3x3, stride 1, by F(4, 3): 4x fewer multiplications in theory;
- ``conv4x4``: 4x4, stride 1 (PatchGAN's last layers), by F(3, 4): 4x;
- ``conv4x4s2``: 4x4, stride 2, padding 1 (pix2pix's encoder and discriminator): the four
  phases of the input (even and odd rows and columns) side by side as channels make it a
  2x2 convolution, by F(5, 2): 2.8x;
- ``transposed4x4s2``: the transposed 4x4, stride 2, padding 1 (pix2pix's decoder): each of
  the four phases of the output is a 2x2 convolution of the input, all four one 2x2
  convolution with four times the output channels, by F(5, 2): 2.8x.

It is faster where the matrix products are large (many channels, many tiles) and slower
where they are small, so whoever switches a model to it says, shape by shape, whether to
use it (``decide``: the training fast path measures each shape on the machine at hand).
oneDNN runs Winograd only on AVX-512 CPUs, and for none of these but 3x3; elsewhere its
direct fp32 convolution runs at about the speed of a large matrix product. The transforms
are plain tensor operations, so autograd gives the backward pass, itself transformed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

TILE_INPUT = 6  # n: every kind's input tile side
POINTS = (0.0, 1.0, -1.0, 2.0, -2.0)  # and infinity: n - 1 finite points for n = 6


@dataclass(frozen=True)
class ConvShape:
    """What a decision to use Winograd for one convolution call depends on."""

    kind: str  # one of KINDS
    in_channels: int
    out_channels: int
    padding: int
    input_shape: tuple[int, ...]
    grad: bool  # backward too (training) or forward only


Decide = Callable[[ConvShape], bool]


@functools.cache
def transforms(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """B^T (n x n), G (n x r) and A^T (m x n) of F(m, r), so that for an input tile d and a
    kernel g the m correlation outputs are A^T [(G g) * (B^T d)] (2-D: applied on both
    sides). Correlation is the transpose of polynomial multiplication: G and A^T evaluate
    at the points (Vandermonde, infinity taking the top coefficient), B^T interpolates.
    Each row of B^T is scaled to whole numbers and its factor moved into G's row."""
    n = m + r - 1
    points = POINTS[:n - 1]

    def evaluation(size: int) -> np.ndarray:
        rows = [[p ** k for k in range(size)] for p in points]
        return np.array([*rows, [0.0] * (size - 1) + [1.0]])

    g, at = evaluation(r), evaluation(m).T
    bt = np.linalg.inv(evaluation(n)).T
    for j in range(n):
        scale = np.abs(bt[j][np.abs(bt[j]) > 1e-12]).min()
        bt[j] /= scale
        g[j] *= scale
    return bt, g, at


@functools.cache
def _matrices(m: int, r: int, dtype: torch.dtype, device: torch.device
              ) -> tuple[Tensor, Tensor, Tensor]:
    """The 2-D transforms as single matrices on flattened tiles (Kronecker products), so
    each transform is one matrix product over every tile and channel at once; built once
    per kind, dtype and device, not at every call."""
    bt, g, at = (torch.tensor(np.kron(a, a), dtype=dtype, device=device)
                 for a in transforms(m, r))
    return bt, g, at


def winograd_conv(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                  padding: int = 0) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) for a square r x r
    ``weight`` with r <= 5, computed by F(7 - r, r) on 6 x 6 tiles. ``x`` is
    ``(B, C, H, W)``: any H and W of at least r after padding."""
    r = weight.shape[-1]
    m = TILE_INPUT - r + 1
    bt, g, at = _matrices(m, r, x.dtype, x.device)
    batch, channels = x.shape[:2]
    out_channels = weight.shape[0]
    out_h, out_w = x.shape[2] + 2 * padding - r + 1, x.shape[3] + 2 * padding - r + 1
    tiles_h, tiles_w = -(-out_h // m), -(-out_w // m)
    # Zeros on the right and bottom complete the last tiles; their outputs are cut off.
    pads = (padding, padding + m * tiles_w - out_w, padding, padding + m * tiles_h - out_h)
    if any(pads):
        x = F.pad(x, pads)
    # Tiles laid out position-major (36, C, tiles): the layout the products want, so each
    # transform is one matrix product and the only copies are this gather and the scatter.
    # (im2col's gather has a faster backward than two Tensor.unfold views.)
    d = F.unfold(x, TILE_INPUT, stride=m).view(batch, channels, TILE_INPUT ** 2, -1)
    d = d.permute(2, 1, 0, 3).reshape(TILE_INPUT ** 2, -1)
    v = (bt @ d).view(TILE_INPUT ** 2, channels, -1)
    u = (g @ weight.reshape(-1, r * r).T).view(TILE_INPUT ** 2, out_channels, channels)
    product = torch.bmm(u, v)  # 36 matrix products: (O, C) x (C, tiles)
    y = (at @ product.view(TILE_INPUT ** 2, -1)).view(m, m, out_channels, batch, tiles_h,
                                                        tiles_w)
    y = y.permute(3, 2, 4, 0, 5, 1).reshape(batch, out_channels, m * tiles_h, m * tiles_w)
    y = y[:, :, :out_h, :out_w]
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def strided_conv4x4(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias, stride=2, padding=1)`` for a 4x4 ``weight`` and even H
    and W: the input's four phases, each padded on the side its taps reach past, side by
    side as channels, convolved by a 2x2 kernel whose taps are the 4x4's of that phase."""
    # Output i of phase p (rows 2t + p) sees phase rows i - p and i - p + 1: padded
    # before (p = 1) or after (p = 0), taps 1 - p and 3 - p of the 4x4 kernel.
    phases = [F.pad(x[:, :, py::2, px::2], (px, 1 - px, py, 1 - py))
              for py in (0, 1) for px in (0, 1)]
    kernel = torch.cat([weight[:, :, 1 - py::2, 1 - px::2] for py in (0, 1) for px in (0, 1)],
                       dim=1)
    return winograd_conv(torch.cat(phases, dim=1), kernel, bias)


def transposed_conv4x4(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride=2, padding=1)`` for a 4x4 ``weight``
    ``(C_in, C_out, 4, 4)``: output row 2j + q is a 2-tap correlation of input rows
    j - 1 + q and j + q with taps 3 - q and 1 - q, so one 2x2 convolution of the input
    padded by 1, with the four phases' kernels as four blocks of output channels, gives
    every phase; the phases are then interleaved."""
    batch, _, height, width = x.shape
    out_channels = weight.shape[1]
    flipped = weight.transpose(0, 1).flip(2, 3)  # taps 3 - q - 2a become q + 2a
    kernel = torch.cat([flipped[:, :, qy::2, qx::2] for qy in (0, 1) for qx in (0, 1)])
    z = winograd_conv(x, kernel, None, padding=1)  # B, 4 * O, H + 1, W + 1
    blocks = z.view(batch, 2, 2, out_channels, height + 1, width + 1)
    phases = torch.stack([torch.stack([blocks[:, qy, qx, :, qy:qy + height, qx:qx + width]
                                       for qx in (0, 1)], dim=-1) for qy in (0, 1)], dim=3)
    y = phases.reshape(batch, out_channels, 2 * height, 2 * width)  # B O H 2 W 2 interleaved
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def direct(kind: str, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """The same convolution as torch computes it (the reference a decision measures)."""
    if kind == "transposed4x4s2":
        return F.conv_transpose2d(x, weight, bias, stride=2, padding=1)
    return F.conv2d(x, weight, bias, stride=2 if kind == "conv4x4s2" else 1, padding=padding)


def fast(kind: str, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """The convolution of ``kind`` by Winograd."""
    if kind == "conv4x4s2":
        return strided_conv4x4(x, weight, bias)
    if kind == "transposed4x4s2":
        return transposed_conv4x4(x, weight, bias)
    return winograd_conv(x, weight, bias, padding)


def weight_shape(kind: str, in_channels: int, out_channels: int) -> tuple[int, ...]:
    side = 3 if kind == "conv3x3" else 4
    if kind == "transposed4x4s2":
        return (in_channels, out_channels, side, side)
    return (out_channels, in_channels, side, side)


KINDS = ("conv3x3", "conv4x4", "conv4x4s2", "transposed4x4s2")


def kind_of(conv: nn.Module) -> str | None:
    """Which of :data:`KINDS` a module computes (None: none of them, or already switched):
    no dilation, no groups, zero padding the same on every side."""
    if type(conv) not in (nn.Conv2d, nn.ConvTranspose2d):
        return None
    if (conv.dilation != (1, 1) or conv.groups != 1 or conv.padding_mode != "zeros"
            or not isinstance(conv.padding, tuple) or conv.padding[0] != conv.padding[1]):
        return None
    size, stride, padding = conv.kernel_size, conv.stride, conv.padding[0]
    if type(conv) is nn.ConvTranspose2d:
        plain = conv.output_padding == (0, 0)
        return "transposed4x4s2" if plain and (size, stride, padding) == ((4, 4), (2, 2), 1) \
            else None
    if size == (3, 3) and stride == (1, 1):
        return "conv3x3"
    if size == (4, 4) and stride == (1, 1):
        return "conv4x4"
    if size == (4, 4) and stride == (2, 2) and padding == 1:
        return "conv4x4s2"
    return None


class _Winograd:
    """What both switched classes share: when a call goes by Winograd."""

    winograd_kind: str
    decide: Decide

    def _by_winograd(self, input: Tensor, weight: Tensor) -> bool:
        if not (input.device.type == "cpu" and input.dtype == torch.float32
                and weight.dtype == torch.float32 and input.dim() == 4
                and not torch.is_autocast_enabled("cpu")
                and not torch.compiler.is_compiling()):
            return False
        if self.winograd_kind == "conv4x4s2" and (input.shape[2] % 2 or input.shape[3] % 2):
            return False
        return self.decide(ConvShape(self.winograd_kind, self.in_channels, self.out_channels,
                                     self.padding[0], tuple(input.shape),
                                     torch.is_grad_enabled()))


class WinogradConv2d(_Winograd, nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same state_dict) that computes by Winograd the
    calls its ``decide`` accepts, and directly everything else: other dtypes and devices,
    autocast, compilation."""

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if self._by_winograd(input, weight):
            return fast(self.winograd_kind, input, weight, bias, self.padding[0])
        return super()._conv_forward(input, weight, bias)


class WinogradConvTranspose2d(_Winograd, nn.ConvTranspose2d):
    """An ``nn.ConvTranspose2d`` switched likewise (calls with an ``output_size`` run
    directly)."""

    def forward(self, input: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is None and self._by_winograd(input, self.weight):
            return transposed_conv4x4(input, self.weight, self.bias)
        return super().forward(input, output_size)


def use_winograd(modules: Iterable[nn.Module], decide: Decide) -> int:
    """Switch every convolution of :data:`KINDS` inside ``modules`` to its Winograd class
    (in place: parameters, state_dict keys and optimiser state are untouched); the number
    switched."""
    count = 0
    for module in modules:
        for conv in module.modules():
            kind = kind_of(conv)
            if kind is None:
                continue
            conv.__class__ = (WinogradConvTranspose2d if kind == "transposed4x4s2"
                              else WinogradConv2d)
            conv.winograd_kind = kind
            conv.decide = decide
            count += 1
    return count
