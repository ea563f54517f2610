"""A small segmentation network that says where an image is mosaiced.

A mosaic's evidence is local (flat cells, steps on lattice lines) but its scale is not
(cells of 4 to 32 px, rescaled or re-encoded on the way): the encoder goes from 1/2 to
1/32 of the image's resolution so that the deepest level sees several cells of the
largest block, and a feature pyramid brings that back to 1/4, where the logit is
predicted; :meth:`MosaicSeg.forward` upsamples it to the input's size. Below 1/4 the
blocks are depthwise-separable (MobileNet's), so a 1280x720 frame costs about 2 GFLOP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

WIDTHS = (16, 32, 64, 128, 192)  # channels at 1/2, 1/4, 1/8, 1/16, 1/32
BLOCKS = (0, 1, 2, 2, 2)  # separable residual blocks at each level
PYRAMID = 32  # channels of the top-down pathway
STRIDE = 32  # inputs are padded to a multiple of this


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SeparableBlock(nn.Module):
    """x + pointwise(depthwise(x)), each followed by batch norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False),
            nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.body(x))


class MosaicSeg(nn.Module):
    """RGB in [0, 1], (N, 3, H, W) -> mosaic logits (N, 1, H, W)."""

    def __init__(self, widths: tuple[int, ...] = WIDTHS, blocks: tuple[int, ...] = BLOCKS,
                 pyramid: int = PYRAMID) -> None:
        super().__init__()
        self.levels = nn.ModuleList()
        cin = 3
        for width, count in zip(widths, blocks, strict=True):
            self.levels.append(nn.Sequential(_conv(cin, width, 2),
                                             *[SeparableBlock(width) for _ in range(count)]))
            cin = width
        # lateral connections from 1/4 down (the 1/2 level is too fine to pay for)
        self.lateral = nn.ModuleList(nn.Conv2d(w, pyramid, 1) for w in widths[1:])
        self.head = nn.Sequential(_conv(pyramid, pyramid), nn.Conv2d(pyramid, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % STRIDE, -w % STRIDE
        x = F.pad(x - 0.5, (0, pad_w, 0, pad_h), mode="replicate")
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        top = self.lateral[-1](features[-1])
        for lateral, feature in zip(reversed(self.lateral[:-1]), reversed(features[1:-1]),
                                    strict=True):
            top = lateral(feature) + F.interpolate(top, size=feature.shape[-2:],
                                                   mode="bilinear", align_corners=False)
        logits = self.head(top)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return logits[..., :h, :w]


def fused(model: MosaicSeg) -> MosaicSeg:
    """``model`` for inference: each convolution with its batch norm folded in (eval
    mode), so a frame costs the convolutions only."""
    model.eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            conv, norm = module[i], module[i + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[i] = torch.nn.utils.fusion.fuse_conv_bn_eval(conv, norm)
                module[i + 1] = nn.Identity()
    return model
