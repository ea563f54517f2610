import itertools
import json

import numpy as np
import pytest
import torch

from mosaicgan.api import train_pix2pix
from mosaicgan.data.paired import PairedDataset
from mosaicgan.errors import ModelError
from mosaicgan.models.checkpoint import load_checkpoint
from mosaicgan.train import pix2pix
from mosaicgan.train.loop import LoopOptions, StepSampler, collate, lr_factor
from mosaicgan.train.pix2pix import Pix2Pix, Pix2PixConfig
from mosaicgan.train.precision import Amp

TINY = {"size": 32, "ngf": 8, "ndf": 8}
QUIET = {"progress": False, "sample_every": 0}


def batch_of(dataset, n=2):
    return collate([dataset[(i, i)] for i in range(n)])


def test_one_step_gives_finite_losses_and_changes_both_nets(tiny_pairs):
    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(**TINY), torch.device("cpu"))
    before = {n: [p.detach().clone() for p in m.parameters()] for n, m in model.modules().items()}
    losses = model.train_step(batch_of(PairedDataset(tiny_pairs, "train", 32)),
                              Amp(torch.device("cpu"), "fp32"))
    assert set(losses) == {"G_gan", "G_L1", "D"}
    assert all(torch.isfinite(v) for v in losses.values())
    for name, module in model.modules().items():
        changed = sum(not torch.equal(a, b) for a, b in zip(before[name], module.parameters(),
                                                             strict=True))
        assert changed > len(before[name]) // 2, name


def test_without_gan_weight_only_the_generator_learns_l1(tiny_pairs):
    """gan_weight 0: no discriminator step, and G steps lower L1 on a fixed batch."""
    torch.manual_seed(0)
    model = Pix2Pix(Pix2PixConfig(**TINY, residual=True, gan_weight=0.0, dropout=0.0),
                    torch.device("cpu"))
    d_before = [p.detach().clone() for p in model.D.parameters()]
    batch = batch_of(PairedDataset(tiny_pairs, "train", 32, augment=False), 4)
    amp = Amp(torch.device("cpu"), "fp32")
    l1 = [float(model.train_step(batch, amp)["G_L1"]) for _ in range(30)]
    assert set(model.train_step(batch, amp)) == {"G_L1"}
    assert l1[-1] < 0.7 * l1[0], l1
    assert all(torch.equal(a, b) for a, b in zip(d_before, model.D.parameters(), strict=True))
    with pytest.raises(ValueError, match="gan_weight"):
        Pix2PixConfig(gan_weight=-1)


def test_fused_adam_takes_the_same_steps(tiny_pairs):
    """The fast path's fused Adam updates the weights as torch's default Adam does."""
    batch = batch_of(PairedDataset(tiny_pairs, "train", 32, augment=False))
    weights = []
    for fused in (False, True):
        torch.manual_seed(0)
        model = Pix2Pix(Pix2PixConfig(**TINY, dropout=0.0), torch.device("cpu"),
                        torch.channels_last, fused=fused)
        assert model.opt_g.defaults["fused"] is (True if fused else None)
        for _ in range(3):
            model.train_step(batch, Amp(torch.device("cpu"), "fp32"))
        weights.append(torch.cat([p.detach().flatten() for m in model.modules().values()
                                  for p in m.parameters()]))
    start = torch.cat([p.detach().flatten() for m in Pix2Pix(
        Pix2PixConfig(**TINY, dropout=0.0), torch.device("cpu")).modules().values()
        for p in m.parameters()])
    assert not torch.equal(weights[0], start)
    torch.testing.assert_close(weights[1], weights[0], rtol=1e-4, atol=1e-5)


def test_bf16_channels_last_gradients_match_fp32(tiny_pairs):
    """The bf16 autocast + channels_last candidate must give the fp32 gradients."""
    cfg = Pix2PixConfig(size=32, ngf=16, ndf=16, dropout=0.0)
    batch = batch_of(PairedDataset(tiny_pairs, "train", 32, augment=False))
    grads = {}
    for name, precision, fmt in [("ref", "fp32", torch.contiguous_format),
                                 ("fast", "bf16", torch.channels_last)]:
        torch.manual_seed(0)
        model = Pix2Pix(cfg, torch.device("cpu"), fmt)
        x, y, _ = model._inputs(batch)
        with Amp(torch.device("cpu"), precision).autocast():
            loss = (model.G(x).float() - y).abs().mean()
        loss.backward()
        grads[name] = torch.cat([p.grad.flatten() for p in model.G.parameters()])
    ref, fast = grads["ref"], grads["fast"]
    assert torch.nn.functional.cosine_similarity(ref, fast, dim=0) > 0.99
    assert (fast - ref).norm() / ref.norm() < 0.1


def in_mask_l1(generator, dataset):
    errors = []
    with torch.no_grad():
        generator.eval()
        for i in range(len(dataset)):
            item = dataset[i]
            x = pix2pix.generator_input(item["a"][None], item["mask"][None], True)
            out = pix2pix.generator_output(generator(x))[0]
            m = item["mask"].expand_as(out)
            errors.append((out - item["b"]).abs()[m].mean().item())
    return float(np.mean(errors))


@pytest.mark.slow  # (run by .ci/run after the default suite)
def test_short_training_lowers_in_mask_l1_on_val(tiny_pairs, tmp_path, no_detections):
    small = {**TINY, "ngf": 16, "ndf": 16}
    result = train_pix2pix(tiny_pairs, tmp_path / "run", config=small,
                           loop=LoopOptions(steps=400, batch=4, seed=5, **QUIET),
                           log=lambda _: None)
    assert result.step == 400
    ckpt = load_checkpoint(tmp_path / "run")
    cfg = Pix2PixConfig.from_dict(ckpt.config)
    assert cfg.mask_channel and cfg.residual  # a restorer, since the pairs have masks
    from mosaicgan.nets import init_weights

    torch.manual_seed(5)
    untrained = init_weights(pix2pix.build_generator(cfg))  # pix2pix's random init
    identity = Pix2Pix(cfg, torch.device("cpu")).G  # how training starts: the mosaic as is
    trained = pix2pix.build_generator(cfg)
    ckpt.load_module("G", trained)
    val = PairedDataset(tiny_pairs, "val", 32, augment=False)
    before, after = in_mask_l1(untrained, val), in_mask_l1(trained, val)
    print(f"in-mask L1 on val: untrained {before:.4f}, trained {after:.4f}")
    assert after < 0.8 * before, (before, after)
    # On the photos it saw, it restores better than leaving the mosaic (3 photos of 32 px
    # are too few to beat the mosaic on an unseen photo; the real model is judged by eval).
    train = PairedDataset(tiny_pairs, "train", 32, augment=False)
    assert in_mask_l1(trained, train) < 0.8 * in_mask_l1(identity, train)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["G_L1"] < log[0]["G_L1"]


def test_a_residual_restorer_changes_nothing_outside_the_mask():
    cfg = Pix2PixConfig(size=32, ngf=8, ndf=8, residual=True)
    torch.manual_seed(0)
    G = pix2pix.build_generator(cfg)
    from mosaicgan.nets import init_weights

    init_weights(G)
    x = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    mask[..., 8:20, 4:30] = True
    out = pix2pix.generator_output(G(pix2pix.generator_input(x, mask, True)))
    torch.testing.assert_close(out[~mask.expand_as(out)], x[~mask.expand_as(x)])
    assert not torch.allclose(out[mask.expand_as(out)], x[mask.expand_as(x)])
    G.start_as_identity()
    out = pix2pix.generator_output(G(pix2pix.generator_input(x, mask, True)))
    torch.testing.assert_close(out, x)


def test_resume_matches_an_uninterrupted_run(tiny_pairs, tmp_path, monkeypatch, no_detections):
    opts = LoopOptions(steps=12, batch=2, seed=1, checkpoint_every=4, **QUIET)
    kwargs = {"config": TINY, "log": lambda _: None}
    train_pix2pix(tiny_pairs, tmp_path / "whole", loop=opts, **kwargs)

    real_step, calls = Pix2Pix.train_step, [0]

    def interrupted(self, *a):
        calls[0] += 1
        if calls[0] == 7:  # Ctrl-C during step 7: the checkpoint holds 6 finished steps
            raise KeyboardInterrupt
        return real_step(self, *a)

    monkeypatch.setattr(Pix2Pix, "train_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_pix2pix(tiny_pairs, tmp_path / "split", loop=opts, **kwargs)
    assert load_checkpoint(tmp_path / "split").step == 6
    monkeypatch.setattr(Pix2Pix, "train_step", real_step)
    with pytest.raises(ModelError, match="--resume"):
        train_pix2pix(tiny_pairs, tmp_path / "split", loop=opts, **kwargs)
    train_pix2pix(tiny_pairs, tmp_path / "split", resume=True,
                  log=lambda _: None)

    whole, split = load_checkpoint(tmp_path / "whole"), load_checkpoint(tmp_path / "split")
    assert whole.step == split.step == 12
    assert set(whole.tensors) == set(split.tensors)
    for key, value in whole.tensors.items():
        torch.testing.assert_close(split.tensors[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_checkpoint_is_safetensors_plus_json(tiny_pairs, tmp_path, no_detections):
    import os

    from safetensors import safe_open

    umask = os.umask(0o022)
    try:
        train_pix2pix(tiny_pairs, tmp_path / "run", config=TINY,
                      loop=LoopOptions(steps=2, batch=1, **QUIET), log=lambda _: None)
    finally:
        os.umask(umask)
    # Every file of the run gets the usual mode (safetensors alone would make 0600).
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "run").rglob("*")
            if p.is_file()} == {0o644}
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["kind"] == "pix2pix" and meta["step"] == 2
    assert meta["config"]["size"] == 32 and meta["config"]["mask_channel"] is True
    assert meta["mosaicgan_version"] and meta["loop"]["batch"] == 1
    with safe_open(tmp_path / "run" / meta["tensors"], "pt") as f:
        keys = set(f.keys())
    assert any(k.startswith("G.") for k in keys) and any(k.startswith("optim.D.") for k in keys)
    assert not [p for p in (tmp_path / "run").rglob("*") if p.suffix in (".pt", ".pth", ".pkl")]


def test_mismatched_and_broken_checkpoints(tiny_pairs, tmp_path, no_detections):
    from mosaicgan.models.restorer import Restorer

    run = tmp_path / "run"
    train_pix2pix(tiny_pairs, run, config=TINY,
                  loop=LoopOptions(steps=1, **QUIET), log=lambda _: None)
    meta = json.loads((run / "checkpoint.json").read_text())
    meta["config"]["ngf"] = 16  # the JSON now disagrees with the weights
    (run / "checkpoint.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit"):
        Restorer.from_checkpoint(run)
    with pytest.raises(ModelError, match=r"no checkpoint\.json"):
        Restorer.from_checkpoint(tmp_path)
    with pytest.raises(ModelError, match="no such model"):
        Restorer.from_checkpoint(tmp_path / "missing")
    (run / meta["tensors"]).write_bytes(b"garbage")
    with pytest.raises(ModelError, match="unreadable tensor file"):
        Restorer.from_checkpoint(run)


def test_lr_schedule_is_constant_then_linear_to_zero():
    factors = [lr_factor(s, 100, 0.5) for s in range(100)]
    assert factors[:50] == [1.0] * 50
    assert all(a > b for a, b in itertools.pairwise(factors[50:]))
    assert factors[-1] == pytest.approx(0.02)


def test_sampler_visits_every_item_once_per_epoch_and_resumes():
    full = list(StepSampler(10, 3, seed=4, start=0, steps=20))
    assert sorted(i for i, _ in full[:10]) == list(range(10))
    assert sorted(i for i, _ in full[10:20]) == list(range(10))
    assert list(StepSampler(10, 3, seed=4, start=7, steps=20)) == full[21:]
    assert len({s for _, s in full}) == len(full)


def test_perceptual_loss_is_frozen_and_trains_the_generator(tiny_pairs):
    cfg = Pix2PixConfig(**TINY, perceptual_weight=1.0)
    torch.manual_seed(0)
    model = Pix2Pix(cfg, torch.device("cpu"))
    frozen_before = [p.clone() for p in model.perceptual.parameters()]
    losses = model.train_step(batch_of(PairedDataset(tiny_pairs, "train", 32)),
                              Amp(torch.device("cpu"), "fp32"))
    assert torch.isfinite(losses["G_feat"]) and losses["G_feat"] > 0
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, model.perceptual.parameters(),
                                                 strict=True))
    assert not model.perceptual.training
    assert "perceptual" not in model.modules()  # not saved in checkpoints


def test_sigterm_finishes_the_step_saves_and_stops(tiny_pairs, tmp_path, monkeypatch,
                                                   no_detections):
    import os
    import signal

    real_step, calls = Pix2Pix.train_step, [0]

    def step_then_term(self, *a):
        out = real_step(self, *a)
        # Counted once the run's handler is in: a step measured before it (a fast-path
        # candidate) must not send the signal, which would end the test process itself.
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            calls[0] += 1
            if calls[0] == 3:
                os.kill(os.getpid(), signal.SIGTERM)  # as a job scheduler would
        return out

    monkeypatch.setattr(Pix2Pix, "train_step", step_then_term)
    with pytest.raises(KeyboardInterrupt):  # (one path given: no steps measured before the run)
        train_pix2pix(tiny_pairs, tmp_path / "run", config=TINY, log=lambda _: None,
                      loop=LoopOptions(steps=10, precision="fp32", channels_last=False, **QUIET))
    assert load_checkpoint(tmp_path / "run").step == 3
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler given back


def test_fine_tuning_starts_from_the_given_generator(tiny_model, tiny_pairs, tmp_path,
                                                     no_detections):
    """--init-from: the new run takes the source's architecture and starts at its weights."""
    from mosaicgan.errors import InputError

    source = load_checkpoint(tiny_model)
    result = train_pix2pix(tiny_pairs, tmp_path / "tuned", config={"gan_weight": 0.0},
                           init_from=tiny_model, log=lambda _: None,
                           loop=LoopOptions(steps=1, batch=2, **QUIET))
    tuned = load_checkpoint(result.run_dir)
    assert tuned.config["ngf"] == 8 and tuned.config["size"] == 32  # the source's
    assert tuned.config["dropout"] == source.config["dropout"]
    assert tuned.config["gan_weight"] == 0.0
    assert tuned.meta["args"]["init_from"] == str(source.path)
    cfg = Pix2PixConfig.from_dict(tuned.config)
    a, b = pix2pix.build_generator(cfg), pix2pix.build_generator(cfg)
    source.load_module("G", a)
    tuned.load_module("G", b)
    torch.manual_seed(123)  # not the source's seed: a different random start
    fresh = Pix2Pix(cfg, torch.device("cpu")).G

    def gap(x, y):
        return sum((p - q).norm() ** 2 for p, q in zip(x.parameters(), y.parameters(),
                                                       strict=True)) ** 0.5

    assert gap(a, b) < 0.1 * gap(a, fresh)  # one small step away from the source
    with pytest.raises(InputError, match="ngf"):
        train_pix2pix(tiny_pairs, tmp_path / "other", config={"ngf": 16}, init_from=tiny_model,
                      log=lambda _: None,
                      loop=LoopOptions(steps=1, batch=2, **QUIET))


def test_init_from_and_resume_are_refused_together(tiny_model, tiny_pairs, tmp_path,
                                                   no_detections):
    from mosaicgan.errors import ArgumentError

    with pytest.raises(ArgumentError, match="drop one of --init-from and --resume"):
        train_pix2pix(tiny_pairs, tmp_path / "run", init_from=tiny_model, resume=True,
                      log=lambda _: None, loop=LoopOptions(steps=1, **QUIET))
