"""3x3 convolutions by Winograd's minimal filtering, F(4x4, 3x3) (Lavin & Gray 2016).

Each 6x6 tile of the input gives a 4x4 tile of the output from 36 multiplications per
input/output channel pair instead of 144: the convolution becomes 36 matrix products in a
transformed domain, with cheap linear transforms around them. The arithmetic is the same
convolution (fp32 results within ~1e-5 relative of the direct one); it is faster where
the matrix products are large (many channels, many tiles) and slower where they are small,
so whoever switches a model to it says, shape by shape, whether to use it (``decide``:
the training fast path measures each shape on the machine at hand).

oneDNN runs Winograd only on AVX-512 CPUs; elsewhere its direct fp32 convolution runs at
about the speed of a large matrix product, so this is how a 3x3 convolution gets fewer
multiplications there. The transforms are plain tensor operations, so autograd gives the
backward pass, itself in the transformed domain.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TILE = 4  # output tile side; the input tile is TILE + 2

# The transforms of F(4x4, 3x3) with interpolation points 0, +-1, +-2 (Lavin & Gray):
# output = A^T [(G g G^T) * (B^T d B)] A for an input tile d and a kernel g.
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))

# decide(in_channels, out_channels, padding, input shape, grad) -> whether to run Winograd.
Decide = Callable[[int, int, int, tuple[int, ...], bool], bool]


def _matrices(like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return tuple(torch.tensor(m, dtype=like.dtype, device=like.device)
                 for m in (_BT, _G, _AT))  # type: ignore[return-value]


def winograd_conv3x3(x: Tensor, weight: Tensor, bias: Tensor | None = None,
                     padding: int = 0) -> Tensor:
    """``F.conv2d(x, weight, bias, stride=1, padding=padding)`` for a 3x3 ``weight``,
    computed by F(4x4, 3x3). ``x`` is ``(B, C, H, W)``; any H and W of at least 3 after
    padding."""
    bt, g, at = _matrices(x)
    batch, channels = x.shape[:2]
    out_h, out_w = x.shape[2] + 2 * padding - 2, x.shape[3] + 2 * padding - 2
    tiles_h, tiles_w = -(-out_h // TILE), -(-out_w // TILE)
    # Zeros on the right and bottom complete the last tiles; their outputs are cut off.
    x = F.pad(x, (padding, padding + TILE * tiles_w - out_w,
                  padding, padding + TILE * tiles_h - out_h))
    d = x.unfold(2, TILE + 2, TILE).unfold(3, TILE + 2, TILE)  # B C th tw 6 6 (a view)
    v = torch.einsum("ij,bcxyjk,lk->ilcbxy", bt, d, bt).reshape(36, channels, -1)
    u = torch.einsum("ij,ocjk,lk->ilco", g, weight, g).reshape(36, channels, -1)
    m = torch.bmm(u.transpose(1, 2), v)  # 36 matrix products: (O, C) x (C, tiles)
    m = m.reshape(TILE + 2, TILE + 2, -1, batch, tiles_h, tiles_w)
    y = torch.einsum("pi,ilobxy,ql->boxpyq", at, m, at)
    y = y.reshape(batch, -1, TILE * tiles_h, TILE * tiles_w)[:, :, :out_h, :out_w]
    return y if bias is None else y + bias.view(1, -1, 1, 1)


def eligible(conv: nn.Module) -> bool:
    """Whether a module is a convolution this can compute: 3x3, stride 1, no dilation, no
    groups, zero padding the same on every side."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3) and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple)
            and conv.padding[0] == conv.padding[1])


class WinogradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (same parameters, same state_dict) that computes by Winograd the
    input shapes its ``decide`` accepts, and directly everything else: other dtypes and
    devices, autocast, compilation."""

    decide: Decide

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        if (input.device.type == "cpu" and input.dtype == torch.float32
                and weight.dtype == torch.float32 and input.dim() == 4
                and not torch.is_autocast_enabled("cpu")
                and not torch.compiler.is_compiling()
                and self.decide(self.in_channels, self.out_channels, self.padding[0],
                                tuple(input.shape), torch.is_grad_enabled())):
            return winograd_conv3x3(input, weight, bias, self.padding[0])
        return super()._conv_forward(input, weight, bias)


def use_winograd(modules, decide: Decide) -> int:
    """Switch every eligible convolution inside ``modules`` to :class:`WinogradConv2d`
    (in place: parameters, state_dict keys and optimiser state are untouched); the number
    switched."""
    count = 0
    for module in modules:
        for conv in module.modules():
            if eligible(conv):
                conv.__class__ = WinogradConv2d
                conv.decide = decide
                count += 1
    return count
