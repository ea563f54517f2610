import pytest
import torch

from mosaicgan.nets import PatchGAN, UNet, init_weights


def count(net):
    return sum(p.numel() for p in net.parameters())


def test_unet_256_matches_the_reference_architecture():
    g = UNet(3, 3, levels=8, ngf=64)
    # pytorch-CycleGAN-and-pix2pix prints 54.414 M for its unet_256 with batch norm
    assert round(count(g) / 1e6, 3) == 54.414
    dropouts = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 3 and all(d.p == 0.5 for d in dropouts)
    assert len(UNet(3, 3, levels=7).down) == 7  # unet_128
    assert sum(isinstance(m, torch.nn.Dropout) for m in UNet(3, 3, levels=7).modules()) == 2


@pytest.mark.parametrize("batch", [1, 2])
def test_unet_shapes_and_mask_channel(batch):
    g = UNet(4, 3, levels=5, ngf=8)
    y = g(torch.rand(batch, 4, 32, 32) * 2 - 1)
    assert y.shape == (batch, 3, 32, 32)
    assert y.abs().max() <= 1


def test_patchgan_sees_70x70_patches():
    d = init_weights(PatchGAN(6, ndf=8, layers=3))
    # Batch statistics mix all positions; without them each logit's support shows.
    d.model = torch.nn.Sequential(*[torch.nn.Identity() if isinstance(m, torch.nn.BatchNorm2d)
                                    else m for m in d.model])
    x = torch.randn(1, 6, 140, 140, requires_grad=True)
    out = d(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero()
    cols = x.grad.abs().sum(dim=(0, 1, 2)).nonzero()
    assert rows.max() - rows.min() + 1 == 70
    assert cols.max() - cols.min() + 1 == 70


def test_init_weights_statistics():
    g = init_weights(UNet(3, 3, levels=6, ngf=16))
    w = torch.cat([m.weight.flatten() for m in g.modules()
                   if isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d)])
    assert abs(w.mean()) < 1e-3 and abs(w.std() - 0.02) < 1e-3
    # the reference prints 2.769 M for its basic D
    assert round(count(PatchGAN(6)) / 1e6, 3) == 2.769
