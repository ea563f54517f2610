"""The fast path: candidates by hardware, the choice by (injected) timings and numerics,
the cache, the overrides, and training on the chosen path. Nothing here depends on the
machine that runs it: the capability probe and the clock are replaced."""

from __future__ import annotations

import json

import pytest
import torch

from mosaicgan import fastpath
from mosaicgan.fastpath import PLAIN, Decision, FastPath, candidates, choose
from mosaicgan.train import autotune
from mosaicgan.train.precision import pick_precision

CPU = torch.device("cpu")


@pytest.fixture
def no_native_bf16(monkeypatch):
    """An AVX2 CPU: bf16 would be emulated."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")


@pytest.fixture
def native_bf16(monkeypatch):
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")


def labels(paths):
    return [p.label for p in paths]


def test_without_native_bf16_no_bf16_candidate_and_fp32_first(no_native_bf16):
    paths = candidates(CPU)
    assert paths[0] == PLAIN
    assert all(p.precision == "fp32" for p in paths)
    assert labels(paths) == ["fp32", "fp32+channels_last"]
    assert pick_precision("auto", CPU) == "fp32"  # the estimate never guesses emulated bf16


def test_with_native_bf16_both_precisions_and_formats(native_bf16):
    assert labels(candidates(CPU)) == ["fp32", "fp32+channels_last", "bf16",
                                       "bf16+channels_last"]
    assert pick_precision("auto", CPU) == "bf16"
    assert not any(p.precision == "fp16" for p in candidates(CPU))  # fp16 is for GPUs


def test_explicit_flags_leave_only_their_paths(native_bf16):
    assert labels(candidates(CPU, "fp32")) == ["fp32", "fp32+channels_last"]
    assert labels(candidates(CPU, "bf16", False)) == ["bf16"]
    assert labels(candidates(CPU, channels_last=True)) == ["fp32+channels_last",
                                                           "bf16+channels_last"]
    with pytest.raises(ValueError, match="unknown precision"):
        candidates(CPU, "int8")


class FakeClock:
    """Each call of a path's step advances the clock by that path's cost."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_prepare(clock: FakeClock, cost: dict[str, float], result: dict[str, float],
                 calls: dict[str, int]):
    def prepare(path: FastPath):
        def step() -> torch.Tensor:
            calls[path.label] = calls.get(path.label, 0) + 1
            clock.now += cost[path.label]
            return torch.tensor([result.get(path.label, 1.0)])
        return step
    return prepare


def decide(paths, cost, result=None, tolerance=0.05, use_cache=True, calls=None):
    clock = FakeClock()
    calls = {} if calls is None else calls
    return choose(paths, fake_prepare(clock, cost, result or {}, calls), autotune.loss_gap,
                  tolerance, CPU, {"task": "test"}, use_cache=use_cache, timer=clock)


def test_the_fastest_path_within_tolerance_wins(native_bf16):
    paths = candidates(CPU)
    cost = {"fp32": 1.0, "fp32+channels_last": 1.2, "bf16": 0.4, "bf16+channels_last": 0.3}
    # bf16+channels_last is the fastest but wrong (a 10 % gap): bf16 wins.
    d = decide(paths, cost, {"bf16": 1.01, "bf16+channels_last": 1.10}, use_cache=False)
    assert d.path == FastPath("bf16", False)
    assert d.source == "measured"
    assert "bf16+channels_last" in d.rejected and "bf16+channels_last" not in d.seconds
    assert d.seconds["fp32"] == pytest.approx(1.0) and d.seconds["bf16"] == pytest.approx(0.4)
    assert d.speedup() == pytest.approx(2.5)


def test_plain_fp32_wins_when_nothing_is_faster_or_results_are_nan(no_native_bf16):
    paths = candidates(CPU)
    d = decide(paths, {"fp32": 1.0, "fp32+channels_last": 1.3}, use_cache=False)
    assert d.path == PLAIN
    # 1 % faster is timing noise: fp32 stays; 5 % faster wins.
    d = decide(paths, {"fp32": 1.0, "fp32+channels_last": 0.99}, use_cache=False)
    assert d.path == PLAIN
    d = decide(paths, {"fp32": 1.0, "fp32+channels_last": 0.95}, use_cache=False)
    assert d.path == FastPath("fp32", True)
    d = decide(paths, {"fp32": 1.0, "fp32+channels_last": 0.5},
               {"fp32+channels_last": float("nan")}, use_cache=False)
    assert d.path == PLAIN and "fp32+channels_last" in d.rejected


def test_a_path_that_fails_is_rejected_and_the_reference_failing_is_raised(native_bf16):
    paths = candidates(CPU, channels_last=False)

    def prepare(path):
        if path.precision == "bf16":
            raise RuntimeError("no kernel")
        return lambda: torch.ones(1)

    d = choose(paths, prepare, autotune.loss_gap, 0.05, CPU, {"t": 1}, use_cache=False)
    assert d.path == PLAIN and "no kernel" in d.rejected["bf16"]

    def broken(path):
        raise RuntimeError("the model is broken")

    with pytest.raises(RuntimeError, match="broken"):
        choose(paths, broken, autotune.loss_gap, 0.05, CPU, {"t": 1}, use_cache=False)


def test_warm_up_is_judged_not_timed(native_bf16):
    """The first call of each path is slow (primitive creation): it must not count."""
    clock, calls = FakeClock(), {}

    def prepare(path):
        first = [True]

        def step():
            calls[path.label] = calls.get(path.label, 0) + 1
            clock.now += (0.3 if first[0] else 0) + (0.1 if path.precision == "fp32" else 0.05)
            first[0] = False
            return torch.ones(1)
        return step

    d = choose(candidates(CPU, channels_last=False), prepare, autotune.loss_gap, 0.05, CPU,
               {"t": 2}, use_cache=False, timer=clock)
    assert d.seconds == {"fp32": pytest.approx(0.1), "bf16": pytest.approx(0.05)}
    assert calls == {"fp32": 1 + fastpath.TIMED_CALLS, "bf16": 1 + fastpath.TIMED_CALLS}


def test_timing_stops_at_the_budget_and_for_a_hopeless_path(native_bf16):
    """A slow step is timed fewer times (the start of training stays short), and a path
    far slower than the best so far is not timed further."""
    calls: dict[str, int] = {}
    cost = {"fp32": 1.5, "bf16": 20.0}
    d = decide(candidates(CPU, channels_last=False), cost, use_cache=False, calls=calls)
    assert calls == {"fp32": 1 + 1, "bf16": 1}  # 1.5 s passes the 1 s budget; bf16's
    assert d.path == PLAIN                        # warm-up alone is > 4x: not timed further
    assert d.seconds["bf16"] == pytest.approx(20.0)
    calls.clear()
    decide(candidates(CPU, channels_last=False), {"fp32": 1.5, "bf16": 4.0}, use_cache=False,
           calls=calls)
    assert calls == {"fp32": 2, "bf16": 2}  # timed once, > 2x the best: not again


def test_the_decision_is_cached_per_machine_and_workload(native_bf16, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    paths = candidates(CPU)
    cost = {"fp32": 1.0, "fp32+channels_last": 0.9, "bf16": 0.5, "bf16+channels_last": 0.45}
    first = decide(paths, cost)
    assert first.path == FastPath("bf16", True) and first.source == "measured"
    cache = tmp_path / "mosaicgan" / "fastpath.json"
    entry = next(iter(json.loads(cache.read_text()).values()))
    assert entry["chosen"] == "bf16+channels_last"
    assert entry["machine"]["capability"] == "AVX512" and entry["machine"]["torch"]
    assert entry["seconds"]["fp32"] == pytest.approx(1.0)
    # The same machine and workload: nothing runs, the same choice with its timings.
    calls: dict[str, int] = {}
    again = decide(paths, cost, calls=calls)
    assert again.path == first.path and again.source == "cache" and calls == {}
    assert again.seconds == first.seconds
    # Another workload, or another machine, measures afresh.
    clock = FakeClock()
    other = choose(paths, fake_prepare(clock, cost, {}, calls), autotune.loss_gap, 0.05, CPU,
                   {"task": "other"}, timer=clock)
    assert other.source == "measured" and calls
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)
    assert decide(paths, cost).source == "measured"
    # A corrupt cache is measured over, not an error.
    cache.write_text("{not json")
    assert decide(paths, cost).source == "measured"
    assert json.loads(cache.read_text())


def test_a_cached_choice_outside_the_allowed_paths_is_not_used(native_bf16, tmp_path,
                                                                monkeypatch):
    """The candidate list is part of the key: --precision fp32 never gets a cached bf16."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cost = {"fp32": 1.0, "fp32+channels_last": 0.9, "bf16": 0.5, "bf16+channels_last": 0.4}
    assert decide(candidates(CPU), cost).path.precision == "bf16"
    assert decide(candidates(CPU, "fp32"), cost).path == FastPath("fp32", True)


def test_one_candidate_is_not_measured(native_bf16):
    d = choose(candidates(CPU, "bf16", True), lambda p: pytest.fail("measured"),
               autotune.loss_gap, 0.05, CPU, {})
    assert d.path == FastPath("bf16", True) and d.source == "only candidate"


def test_loss_gap_is_relative_with_a_floor():
    ref = torch.tensor([1.0, 0.0001])
    assert autotune.loss_gap(torch.tensor([1.03, 0.0002]), ref) == pytest.approx(0.1)
    assert autotune.loss_gap(torch.tensor([1.03, 0.0001]), ref) == pytest.approx(0.03)
    assert autotune.loss_gap(torch.tensor([float("inf"), 0.0]), ref) == float("inf")


TINY = {"size": 32, "ngf": 8, "ndf": 8, "dropout": 0.0}


def tiny_factory():
    from mosaicgan.train.pix2pix import Pix2Pix, Pix2PixConfig

    cfg = Pix2PixConfig(**TINY, mask_channel=True, residual=True)
    return lambda device, fmt, fused: Pix2Pix(cfg, device, fmt, fused)


def tiny_batch():
    g = torch.Generator().manual_seed(0)
    return {"a": torch.rand(1, 3, 32, 32, generator=g), "b": torch.rand(1, 3, 32, 32, generator=g),
            "mask": torch.rand(1, 1, 32, 32, generator=g) > 0.5, "path": ["x"]}


def test_real_training_steps_pass_the_numerics_check(native_bf16, monkeypatch):
    """On a real pix2pix step every native path is within the loss tolerance of fp32
    (bf16 is computed for real here, emulated where the CPU lacks it: slow, but correct)."""
    monkeypatch.setattr(fastpath, "TIMED_CALLS", 1)  # numerics are the point here
    d = autotune.training_path(tiny_factory(), tiny_batch(), CPU, use_cache=False)
    assert d.source.startswith("measured")
    assert set(d.seconds) | set(d.rejected) == {"fp32", "fp32+channels_last", "bf16",
                                                "bf16+channels_last", "fp32+winograd"}
    assert d.rejected == {}, d.rejected
    assert all(0 < g <= autotune.LOSS_TOLERANCE for g in d.gaps.values() if g), d.gaps
    assert d.path.label in d.seconds


def test_instance_norm_channels_last_is_the_same_path_and_not_measured_twice(native_bf16,
                                                                            monkeypatch):
    monkeypatch.setattr(fastpath, "TIMED_CALLS", 1)
    from mosaicgan.train.cyclegan import CycleGAN, CycleGANConfig

    cfg = CycleGANConfig(size=32, ngf=4, ndf=4, blocks=1, pool_size=0)
    g = torch.Generator().manual_seed(0)
    batch = {"a": torch.rand(1, 3, 32, 32, generator=g), "b": torch.rand(1, 3, 32, 32,
                                                                          generator=g)}
    d = autotune.training_path(lambda dev, fmt, fused: CycleGAN(cfg, dev, fmt, fused), batch,
                               CPU, precision="fp32", use_cache=False)
    # (Winograd is a path of its own: its convolutions are not the same arithmetic.)
    assert set(d.seconds) <= {"fp32", "fp32+winograd"} and "fp32" in d.seconds
    assert not d.path.channels_last


def test_training_logs_the_path_records_it_and_a_resume_keeps_it(tiny_pairs, tmp_path,
                                                                 no_detections, native_bf16):
    from mosaicgan.api import train_pix2pix
    from mosaicgan.train.loop import LoopOptions

    lines: list[str] = []
    loop = LoopOptions(steps=2, progress=False, sample_every=0, precision="fp32")
    train_pix2pix(tiny_pairs, tmp_path / "run", config=TINY, loop=loop, log=lines.append)
    fast = [line for line in lines if line.startswith("fast path: fp32")]
    assert fast and "measured" in fast[0] and "per call" in fast[0], lines
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    runtime = meta["runtime"]
    assert runtime["precision"] == "fp32"
    # Resuming keeps the recorded path without measuring (even with another cached choice).
    lines.clear()
    train_pix2pix(tiny_pairs, tmp_path / "run", resume=True, log=lines.append,
                  loop=LoopOptions(steps=3, progress=False, sample_every=0))
    assert any("the resumed run's" in line for line in lines), lines
    meta = json.loads((tmp_path / "run" / "checkpoint.json").read_text())
    assert meta["runtime"]["channels_last"] == runtime["channels_last"]
    assert meta["runtime"]["precision"] == "fp32"


def test_measurement_leaves_the_run_as_an_unmeasured_one_would_start(tiny_pairs, tmp_path,
                                                                     no_detections,
                                                                     no_native_bf16,
                                                                     monkeypatch):
    """The candidates' trainers are thrown away: a measured run's weights equal those of a
    run told its path (nothing measured), step for step."""
    from mosaicgan.api import train_pix2pix
    from mosaicgan.fastpath import path_from_dict
    from mosaicgan.models.checkpoint import load_checkpoint
    from mosaicgan.train import loop
    from mosaicgan.train.loop import LoopOptions

    lines: list[str] = []
    base = LoopOptions(steps=2, progress=False, sample_every=0, seed=4)
    train_pix2pix(tiny_pairs, tmp_path / "auto", config=TINY, loop=base, log=lines.append)
    chosen = json.loads((tmp_path / "auto" / "checkpoint.json").read_text())["runtime"]
    assert chosen["precision"] == "fp32"  # no bf16 without native support
    # Told the whole path (Winograd included, which a timing may or may not pick), so the
    # second run measures nothing.
    told = path_from_dict(chosen)
    monkeypatch.setattr(loop, "training_path", lambda *a, **k: Decision(told, source="told"))
    train_pix2pix(tiny_pairs, tmp_path / "told", config=TINY, loop=base, log=lines.append)
    assert json.loads((tmp_path / "told" / "checkpoint.json").read_text())["runtime"][
        "winograd"] == chosen["winograd"]
    a, b = load_checkpoint(tmp_path / "auto"), load_checkpoint(tmp_path / "told")
    for key in a.tensors:
        if key.startswith(("G.", "D.")):
            assert torch.equal(a.tensors[key], b.tensors[key]), key


def test_a_measurement_crowded_out_by_other_processes_is_not_cached(native_bf16, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    crowded = fastpath._crowded
    monkeypatch.setattr(fastpath, "_crowded", lambda wall, cpu, threads: True)
    d = decide(candidates(CPU), {"fp32": 1.0, "fp32+channels_last": 0.9, "bf16": 0.5,
                                 "bf16+channels_last": 0.6})
    assert d.path == FastPath("bf16") and "busy" in d.source
    assert not (tmp_path / "mosaicgan" / "fastpath.json").exists()
    # ... but this process keeps it: every model built here takes the same path.
    calls: dict[str, int] = {}
    assert decide(candidates(CPU), {"fp32": 0.1}, calls=calls) is d and calls == {}
    assert crowded(10.0, 0.5 * 10.0 * 4, 4) is True
    assert crowded(10.0, 0.95 * 10.0 * 4, 4) is False
    assert crowded(0.1, 0.0, 4) is False  # too short to tell


def test_a_cached_decision_holds_only_under_the_same_isa_limit_and_libraries(
        native_bf16, tmp_path, monkeypatch):
    """ONEDNN_MAX_CPU_ISA changes oneDNN's kernels without changing torch's capability
    string, and a runtime upgrade changes the candidates' speed: either measures again."""
    from importlib import metadata

    from mosaicgan import fastpath

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    paths = candidates(CPU)
    cost = {"fp32": 1.0, "fp32+channels_last": 0.9, "bf16": 0.5, "bf16+channels_last": 0.45}
    assert decide(paths, cost).source == "measured"
    assert decide(paths, cost).source == "cache"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")
    assert fastpath.machine(CPU)["onednn_isa"] == "AVX2"
    assert decide(paths, cost).source == "measured"
    assert decide(paths, cost).source == "cache"
    assert fastpath.machine(CPU)["libraries"]["mosaicgan"] == metadata.version("mosaicgan")
    real = fastpath.library_versions()
    monkeypatch.setattr(fastpath, "library_versions", lambda: {**real, "onnxruntime": "99.0"})
    assert decide(paths, cost).source == "measured"


def test_doctor_prints_each_decision_with_its_candidates_times(native_bf16, tmp_path,
                                                               monkeypatch):
    from click.testing import CliRunner

    from mosaicgan.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cost = {"fp32": 1.0, "fp32+channels_last": 0.9, "bf16": 0.5, "bf16+channels_last": 0.45}
    decide(candidates(CPU), cost, {"bf16": 1.2})  # bf16 is wrong by 20 %: rejected
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("machine: ") and "capability AVX512" in lines[0]
    assert "1 decision(s)" in lines[1] and str(tmp_path) in lines[1]
    assert lines[2].startswith("task test: bf16+channels_last (measured 20")
    assert "unused here" not in lines[2]  # measured on this machine
    assert lines[3] == ("  per call: bf16+channels_last 0.450 s, fp32+channels_last 0.900 s, "
                        "fp32 1.000 s")
    assert lines[4].startswith("  rejected bf16: differs from fp32")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 64)  # another setup
    assert "unused here" in CliRunner().invoke(main, ["doctor"]).output.splitlines()[2]
