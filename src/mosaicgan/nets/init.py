"""Normalisation layers by name, and the papers' weight initialisation."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

NORMS = ("batch", "instance")


def norm_layer(name: str) -> Callable[[int], nn.Module]:
    """A constructor ``channels -> norm module``.

    ``batch`` never tracks running statistics: like the reference pix2pix code (which
    does not call ``eval()`` at test time) it normalises with the statistics of the
    batch at hand, so a generator trained at batch 1 behaves the same at inference.
    """
    if name == "batch":
        return lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=False)
    if name == "instance":
        return lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)
    raise ValueError(f"unknown norm {name!r}; choose one of {', '.join(NORMS)}")


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Conv weights ~ N(0, gain), norm scales ~ N(1, gain), biases 0 (pix2pix/CycleGAN)."""

    def init(m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)

    net.apply(init)
    return net


def per_sample_norm(net: nn.Module) -> nn.Module:
    """Replace each batch norm by an instance norm with the same scale and shift, in place.

    A batch norm that normalises with the statistics of the batch at hand couples the
    images of a batch. At batch 1 (how pix2pix trains) it equals an instance norm, so
    after this swap inference gives the same result whether images come one at a time or
    in batches.
    """
    for name, child in net.named_children():
        if isinstance(child, nn.BatchNorm2d) and not child.track_running_stats:
            inst = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine)
            if child.affine:
                inst.weight, inst.bias = child.weight, child.bias
            setattr(net, name, inst)
        else:
            per_sample_norm(child)
    return net
