"""Winograd convolutions: the same results and gradients as the direct convolution,
switched in place only where eligible and only for the shapes measured faster, rejected
when their numerics are wrong, and recorded (and kept on resume) as a training path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from mosaicgan import fastpath
from mosaicgan.fastpath import PLAIN, Decision, FastPath, candidates
from mosaicgan.jobs.doctor import doctor_report
from mosaicgan.nets import winograd
from mosaicgan.nets.winograd import ConvShape, kind_of, use_winograd, weight_shape
from mosaicgan.train import autotune

CPU = torch.device("cpu")


KIND_CASES = [("conv3x3", (2, 16, 13, 17), 1), ("conv3x3", (1, 8, 3, 3), 0),
              ("conv3x3", (3, 5, 20, 20), 2), ("conv3x3", (1, 32, 34, 34), 0),
              ("conv4x4", (2, 6, 13, 11), 1), ("conv4x4", (1, 3, 4, 9), 0),
              ("conv4x4s2", (2, 5, 16, 12), 1), ("conv4x4s2", (1, 4, 2, 2), 1),
              ("transposed4x4s2", (2, 5, 7, 9), 1), ("transposed4x4s2", (1, 8, 1, 1), 1)]


@pytest.mark.parametrize("kind,shape,padding", KIND_CASES)
def test_each_kind_equals_the_direct_convolution_with_its_gradients(kind, shape, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64).requires_grad_()
    w = torch.randn(weight_shape(kind, shape[1], 7), generator=g,
                    dtype=torch.float64).requires_grad_()
    b = torch.randn(7, generator=g, dtype=torch.float64).requires_grad_()
    ref = winograd.direct(kind, x, w, b, padding)
    out = winograd.fast(kind, x, w, b, padding)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)  # exact up to rounding
    grad = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    for a, r in zip(torch.autograd.grad(out, (x, w, b), grad),
                    torch.autograd.grad(ref, (x, w, b), grad), strict=True):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-9)
    # fp32, as training runs it: within the tolerance the fast path checks.
    x32, w32 = x.detach().float(), w.detach().float()
    err = autotune.relative_error(winograd.fast(kind, x32, w32, None, padding),
                                  winograd.direct(kind, x32, w32, None, padding))
    assert err < autotune.WINOGRAD_TOLERANCE / 10


def test_the_transforms_are_lavin_and_grays():
    """F(4, 3)'s input transform is the published one (rows up to sign), and every
    transform reproduces a 1-D correlation exactly."""
    bt, gm, at = winograd.transforms(4, 3)
    published = np.array([(4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
                          (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)])
    assert np.allclose(np.abs(bt), np.abs(published))
    rng = np.random.default_rng(0)
    for m, r in ((4, 3), (3, 4), (5, 2)):
        bt, gm, at = winograd.transforms(m, r)
        d, k = rng.normal(size=m + r - 1), rng.normal(size=r)
        assert np.allclose(at @ ((gm @ k) * (bt @ d)), np.correlate(d, k, "valid"))


def test_only_eligible_convolutions_switch_and_the_state_dict_stays():
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3),
                        nn.Conv2d(8, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 1, 1),
                        nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.Conv2d(8, 8, 3, 2, 1),
                        nn.Conv2d(8, 8, 4, 2, 0), nn.Conv2d(8, 8, 3, padding=1, groups=2),
                        nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"),
                        nn.ConvTranspose2d(8, 8, 3), nn.ConvTranspose2d(8, 8, 4, 2, 1, 1))
    keys = list(net.state_dict())
    x = torch.randn(1, 4, 24, 24)
    before = net(x)
    seen = []

    def always(conv):
        seen.append(conv)
        return True

    assert use_winograd([net], always) == 5
    assert [type(m).__name__ for m in net][:6] == (
        ["WinogradConv2d", "ReLU"] + ["WinogradConv2d"] * 3 + ["WinogradConvTranspose2d"])
    assert all(type(m) in (nn.Conv2d, nn.ConvTranspose2d) for m in net[6:])
    assert list(net.state_dict()) == keys
    after = net(x)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    assert seen == [ConvShape("conv3x3", 4, 8, 1, (1, 4, 24, 24), True),
                    ConvShape("conv3x3", 8, 8, 0, (1, 8, 24, 24), True),
                    ConvShape("conv4x4s2", 8, 8, 1, (1, 8, 22, 22), True),
                    ConvShape("conv4x4", 8, 8, 1, (1, 8, 11, 11), True),
                    ConvShape("transposed4x4s2", 8, 8, 1, (1, 8, 10, 10), True)]
    assert kind_of(net[0]) is None  # already switched: not switched twice
    assert use_winograd([net], always) == 0


def test_the_decision_is_per_shape_and_other_dtypes_run_directly():
    conv = nn.Conv2d(3, 5, 4, 2, 1)
    calls = []
    use_winograd([conv], lambda c: calls.append(c) or c.input_shape[2] > 10)
    small, large = torch.randn(1, 3, 8, 8), torch.randn(1, 3, 16, 16)
    conv(small)
    conv(large)
    assert [c.input_shape for c in calls] == [(1, 3, 8, 8), (1, 3, 16, 16)]
    with torch.no_grad():
        conv(large)
    assert calls[-1].grad is False  # inference is a shape of its own
    calls.clear()
    conv(torch.randn(1, 3, 17, 16))  # an odd side: no phases to split, so directly
    conv.double()(large.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        conv.float()(large)
    assert calls == []


def test_a_shape_is_measured_both_ways_and_wrong_numerics_lose(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(fastpath, "_crowded", lambda wall, cpu, threads: False)
    conv = ConvShape("transposed4x4s2", 8, 6, 1, (1, 8, 12, 12), True)
    plain = autotune._conv_call(PLAIN, conv)()
    fast = autotune._conv_call(FastPath(winograd=True), conv)()
    assert plain.numel() == 6 * 24 * 24 + 8 * 144 + 8 * 6 * 16  # output, input/weight grads
    assert 0 < autotune.relative_error(fast, plain) < autotune.WINOGRAD_TOLERANCE
    # Timings injected: Winograd twice as fast wins; broken, it loses whatever its speed.
    clock = [0.0]
    monkeypatch.setattr(fastpath, "clock", lambda: clock[0])
    real_call = autotune._conv_call

    def timed(path, *args):
        call = real_call(path, *args)

        def run():
            clock[0] += 1.0 if path.winograd else 2.0
            return call()
        return run
    monkeypatch.setattr(autotune, "_conv_call", timed)
    assert autotune.winograd_wins.__wrapped__(conv) is True
    entry = next(iter(json.loads((tmp_path / "mosaicgan" / "fastpath.json").read_text())
                      .values()))
    assert entry["chosen"] == "fp32+winograd"
    assert entry["workload"]["task"] == "conv" and entry["workload"]["kind"] == conv.kind
    assert any(line.startswith("convolution transposed4x4s2 8->6 on 1x8x12x12, with "
                               "gradients: fp32+winograd") for line in doctor_report())
    real_fast = winograd.fast
    monkeypatch.setattr(winograd, "fast", lambda *a: real_fast(*a) * 1.01)
    other = ConvShape("conv3x3", 8, 8, 1, (1, 8, 13, 13), True)
    assert autotune.winograd_wins.__wrapped__(other) is False


def test_winograd_is_a_cpu_training_candidate_only():
    assert labels(candidates(CPU, "fp32")) == ["fp32", "fp32+channels_last"]
    assert labels(candidates(CPU, "fp32", winograd=True)) == ["fp32", "fp32+channels_last",
                                                              "fp32+winograd"]
    # Whatever precisions this CPU has natively, Winograd comes once, in fp32 only.
    auto = labels(candidates(CPU, winograd=True))
    assert auto == [*labels(candidates(CPU)), "fp32+winograd"]
    assert "fp32+winograd" not in labels(candidates(CPU, "bf16", winograd=True))
    assert labels(candidates(CPU, "fp32", True, winograd=True)) == ["fp32+channels_last"]
    # Both flags given pin one path: a run so told measures nothing before it starts.
    assert labels(candidates(CPU, "fp32", False, winograd=True)) == ["fp32"]
    assert labels(candidates(torch.device("meta"), winograd=True)) == ["fp32"]


def labels(paths):
    return [p.label for p in paths]


def cyclegan_factory():
    from mosaicgan.train.cyclegan import CycleGAN, CycleGANConfig

    cfg = CycleGANConfig(size=32, ngf=8, ndf=4, blocks=2, pool_size=0)
    return lambda dev, fmt, fused: CycleGAN(cfg, dev, fmt, fused)


def test_training_on_winograd_gives_the_plain_losses():
    """Five CycleGAN steps from the same start: every loss within 0.1 % of plain fp32's."""
    from mosaicgan.train.precision import Amp

    g = torch.Generator().manual_seed(0)
    batch = {"a": torch.rand(1, 3, 32, 32, generator=g), "b": torch.rand(1, 3, 32, 32,
                                                                          generator=g)}
    runs = []
    for switched in (False, True):
        torch.manual_seed(0)
        trainer = cyclegan_factory()(CPU, torch.contiguous_format, True)
        if switched:
            # 2 residual blocks x 2 3x3 convs x 2 generators; 3 strided + 2 4x4 x 2 critics
            assert use_winograd(trainer.modules().values(), lambda *a: True) == 18
        amp = Amp(CPU, "fp32")
        torch.manual_seed(1)
        runs.append([{k: float(v) for k, v in trainer.train_step(batch, amp).items()}
                     for _ in range(5)])
    plain, fast = runs
    for p, f in zip(plain, fast, strict=True):
        for k in p:
            assert abs(f[k] - p[k]) <= 1e-3 * max(abs(p[k]), 1e-3), (k, p[k], f[k])
    assert plain[0] != plain[-1]  # the runs trained


def test_a_run_on_winograd_records_it_and_a_resume_keeps_it(tmp_path, monkeypatch,
                                                             no_detections):
    from mosaicgan.api import train_cyclegan
    from mosaicgan.train import loop
    from mosaicgan.train.loop import LoopOptions

    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        folder.mkdir()
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(2):
        for folder in (a, b):
            pixels = (torch.rand(32, 32, 3, generator=g) * 255).byte().numpy()
            Image.fromarray(pixels).save(folder / f"{i}.png")
    switched = []
    real_apply = loop.apply_path

    def spy(trainer, path):
        n = real_apply(trainer, path)
        switched.append(n)
        return n
    monkeypatch.setattr(loop, "apply_path", spy)
    monkeypatch.setattr(loop, "training_path",
                        lambda *a, **k: Decision(FastPath(winograd=True), source="measured"))
    monkeypatch.setattr(autotune, "winograd_wins", lambda *a: True)
    config = {"size": 32, "ngf": 8, "ndf": 4, "blocks": 2}
    lines: list[str] = []
    train_cyclegan(None, tmp_path / "run", a=a, b=b, config=config, log=lines.append,
                   loop=LoopOptions(steps=2, progress=False, sample_every=0))
    assert any(line.startswith("fast path: fp32+winograd") for line in lines), lines
    assert switched == [18]
    runtime = json.loads((tmp_path / "run" / "checkpoint.json").read_text())["runtime"]
    assert runtime["winograd"] is True
    monkeypatch.setattr(loop, "training_path", lambda *a, **k: Decision(PLAIN))
    lines.clear()
    train_cyclegan(None, tmp_path / "run", a=a, b=b, resume=True, log=lines.append,
                   loop=LoopOptions(steps=3, progress=False, sample_every=0))
    assert any("fp32+winograd (the resumed run's)" in line for line in lines), lines
    assert switched == [18, 18]
