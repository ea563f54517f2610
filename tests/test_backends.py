"""Inference backends: the ONNX export equals torch, every backend gives torch fp32's
output within the stated tolerance, the choice is cached, and the override is obeyed."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from mosaicgan import fastpath
from mosaicgan.fastpath import FastPath
from mosaicgan.models import backends
from mosaicgan.models.backends import OUTPUT_TOLERANCE, FastGenerator, available
from mosaicgan.models.checkpoint import load_checkpoint
from mosaicgan.models.export import export_model
from mosaicgan.models.restorer import Restorer
from mosaicgan.models.shipped import default_model
from mosaicgan.nets import per_sample_norm
from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator, generator_input
from mosaicgan.regions.masks import box_mask

from .conftest import photo

CPU = torch.device("cpu")
# fp32 graphs of the same weights: ONNX Runtime and torch order some sums differently.
ONNX_TOLERANCE = 1e-4


def restorer_input(side: int, seed: int = 0) -> torch.Tensor:
    """A photo crop with a mask box: the kind of input the restorer gives its generator."""
    image = photo("astronaut")[seed * 16:seed * 16 + side, seed * 8:seed * 8 + side]
    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
    mask = torch.from_numpy(box_mask(side, side, (side // 4, side // 4, side // 2, side // 3)))
    return generator_input(x, mask[None, None], True)


def shipped_generator() -> torch.nn.Module:
    ckpt = load_checkpoint(default_model())
    G = build_generator(ckpt.model_config(Pix2PixConfig))
    ckpt.load_module("G", G)
    return per_sample_norm(G).eval()


def test_onnx_export_equals_torch_at_any_size(tiny_model, tmp_path):
    import onnx
    import onnxruntime as ort

    path = export_model(tiny_model, tmp_path / "model.onnx", format="onnx")
    assert path == tmp_path / "model.onnx"
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["mosaicgan.mask_channel"] == "True" and meta["mosaicgan.residual"] == "True"
    ckpt = load_checkpoint(tiny_model)
    cfg = ckpt.model_config(Pix2PixConfig)
    G = build_generator(cfg)
    ckpt.load_module("G", G)
    G = per_sample_norm(G).eval()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1] == 4  # the mask is the 4th channel
    side = int(meta["mosaicgan.multiple"])
    for h, w, batch in ((side, side, 1), (2 * side, 3 * side, 2)):
        x = torch.cat([restorer_input(96, i)[..., :h, :w] for i in range(batch)])
        with torch.no_grad():
            expected = G(x).numpy()
        got = session.run(None, {"input": x.numpy()})[0]
        assert got.shape == expected.shape == (batch, 3, h, w)
        assert np.abs(got - expected).max() < ONNX_TOLERANCE
        # The residual step is in the graph: outside the mask the input comes back.
        outside = (x[:, 3:4] < 0).expand(-1, 3, -1, -1).numpy()
        assert np.abs(got - x[:, :3].numpy())[outside].max() < 1e-6


def test_onnx_export_of_a_cyclegan_writes_both_directions(tmp_path, no_detections):
    from mosaicgan.imageio import write_image
    from mosaicgan.jobs.train import train_cyclegan
    from mosaicgan.train.loop import LoopOptions

    for domain, colour in (("trainA", (200, 30, 30)), ("trainB", (30, 30, 200))):
        write_image(tmp_path / "data" / domain / "1.png",
                    np.full((32, 32, 3), colour, np.uint8))
    train_cyclegan(tmp_path / "data", tmp_path / "run", log=lambda _: None,
                   config={"size": 32, "ngf": 4, "ndf": 4, "blocks": 1},
                   loop=LoopOptions(steps=1, progress=False, sample_every=0,
                                    precision="fp32", channels_last=False))
    first = export_model(tmp_path / "run", tmp_path / "out" / "cg.onnx", format="onnx")
    assert first == tmp_path / "out" / "cg.AtoB.onnx"
    assert (tmp_path / "out" / "cg.BtoA.onnx").is_file()
    with pytest.raises(ValueError, match="unknown export format"):
        export_model(tmp_path / "run", tmp_path / "x", format="tflite")


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_each_backend_gives_torch_fp32_output_within_tolerance(backend, monkeypatch):
    if backend not in available(CPU):
        pytest.skip(f"{backend} is not installed (an optional extra)")
    G = shipped_generator()
    digest = backends.weights_digest(G)
    run = backends.build(G, FastPath(backend=backend), CPU, 4, digest)
    for side in (256, 512):  # dynamic spatial size: one graph for both
        x = restorer_input(side)
        with torch.no_grad():
            expected = G(x)
        assert backends.output_gap(run(x), expected) < ONNX_TOLERANCE


def test_native_bf16_inference_is_within_tolerance_on_a_photo():
    """bf16 is a candidate only where native; there the shipped model on a real photo
    stays within one 8-bit level of fp32 (the check would reject it otherwise)."""
    if not fastpath.native_bf16(CPU):
        pytest.skip("bf16 is not native on this CPU: never a candidate")
    G = shipped_generator()
    x = restorer_input(256)
    with torch.no_grad():
        expected = G(x)
    got = backends.TorchBackend(G, FastPath("bf16"), CPU)(x)
    assert backends.output_gap(got, expected) < OUTPUT_TOLERANCE
    backends.TorchBackend(G, FastPath(), CPU)  # back to fp32 contiguous for other tests


def fake_timings(monkeypatch, seconds: dict[str, float]):
    """Each backend's call advances a fake clock by its given cost."""
    clock = [0.0]
    real_build = backends.build

    def build(module, path, device, in_channels, digest):
        run = real_build(module, path, device, in_channels, digest)

        def timed(x):
            clock[0] += seconds.get(path.label, 1.0)
            return run(x)
        return timed

    monkeypatch.setattr(backends, "build", build)
    monkeypatch.setattr(fastpath, "clock", lambda: clock[0])
    monkeypatch.setattr(fastpath, "_crowded", lambda wall, cpu, threads: False)  # a busy CI is fine


def test_the_fastest_backend_is_chosen_cached_and_used(tmp_path, monkeypatch):
    if "onnxruntime" not in available(CPU):
        pytest.skip("onnxruntime is not installed")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    fake_timings(monkeypatch, {"fp32": 1.0, "fp32+channels_last": 1.2, "onnxruntime": 0.5,
                               "openvino": 0.7})
    torch.manual_seed(0)
    G = per_sample_norm(build_generator(Pix2PixConfig(size=32, ngf=8, residual=True))).eval()
    x = restorer_input(32)
    with torch.no_grad():
        expected = G(x)
    first = FastGenerator(G, CPU, {"use": "test"})
    out = first(x)
    assert first.decision is not None and first.decision.path.backend == "onnxruntime"
    assert first.decision.source == "measured"
    assert not any(p.startswith("bf16") for p in first.decision.seconds)  # not native here
    assert backends.output_gap(out, expected) < ONNX_TOLERANCE
    again = FastGenerator(G, CPU, {"use": "test"})
    again(x)
    assert again.decision.source == "cache" and again.decision.path.backend == "onnxruntime"
    assert list((tmp_path / "mosaicgan" / "onnx").glob("*.onnx"))  # exported once, kept
    # Other weights are another workload: measured afresh.
    torch.manual_seed(1)
    other = per_sample_norm(build_generator(Pix2PixConfig(size=32, ngf=8, residual=True)))
    fresh = FastGenerator(other.eval(), CPU, {"use": "test"})
    fresh(x)
    assert fresh.decision.source == "measured"


def test_the_environment_overrides_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    torch.manual_seed(0)
    G = per_sample_norm(build_generator(Pix2PixConfig(size=32, ngf=8, residual=True))).eval()
    monkeypatch.setenv(backends.BACKEND_ENV, "torch")
    g = FastGenerator(G, CPU)
    g(restorer_input(32))
    assert g.decision.path.backend == "torch"
    assert all(not k.startswith(("onnxruntime", "openvino")) for k in g.decision.seconds)
    monkeypatch.setenv(backends.BACKEND_ENV, "tensorrt")
    with pytest.raises(ValueError, match="MOSAICGAN_BACKEND=tensorrt: unknown backend"):
        FastGenerator(G, CPU)(restorer_input(32))


def test_restoring_on_onnxruntime_matches_torch(tiny_model, monkeypatch, no_detections):
    if "onnxruntime" not in available(CPU):
        pytest.skip("onnxruntime is not installed")
    image = photo("astronaut")[:96, :96].copy()
    mask = box_mask(96, 96, (30, 40, 30, 20))
    results = {}
    for name in ("torch", "onnxruntime"):
        monkeypatch.setenv(backends.BACKEND_ENV, name)
        restorer = Restorer.from_checkpoint(tiny_model, device="cpu", match_cells=False)
        results[name] = restorer.restore(image, mask).image
        assert restorer._net.decision.path.backend == name
    # Outputs within 1e-4 round to the same byte but for values at a rounding edge.
    assert np.abs(results["torch"].astype(int) - results["onnxruntime"].astype(int)).max() <= 1
    assert not np.array_equal(results["torch"], image)  # it did restore something


def test_the_export_command_writes_onnx(tiny_model, tmp_path):
    import onnx
    from click.testing import CliRunner

    from mosaicgan.cli import main

    out = tmp_path / "m.onnx"
    done = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out), "--format",
                                     "onnx"])
    assert done.exit_code == 0, done.output
    assert "exported ->" in done.output
    onnx.checker.check_model(onnx.load(str(out)))
    bad = CliRunner().invoke(main, ["export", str(tiny_model), "-o", str(out), "--format",
                                    "tflite"])
    assert bad.exit_code == 2 and "tflite" in bad.output


def test_the_onnx_cache_keeps_the_most_recently_used_files(tmp_path):
    """One ONNX file per set of weights (per sharpness value): the cache stays bounded,
    the file just written and the most recently used ones stay."""
    folder = tmp_path / "onnx"
    folder.mkdir()
    files = []
    for i in range(backends.MAX_CACHED_ONNX + 3):
        path = folder / f"{i:02d}-4.onnx"
        path.write_bytes(b"x")
        os.utime(path, (1000 + i, 1000 + i))
        files.append(path)
    os.utime(files[0], (5000, 5000))  # the oldest file, used again since
    new = folder / "new-4.onnx"
    new.write_bytes(b"x")
    os.utime(new, (10, 10))  # (whatever its time: the one just written is kept)
    removed = backends.prune_onnx_cache(folder, keep=new)
    left = set(folder.glob("*.onnx"))
    assert len(left) == backends.MAX_CACHED_ONNX and new in left and files[0] in left
    assert left == {new, files[0], *files[-(backends.MAX_CACHED_ONNX - 2):]}
    assert set(removed) == set(files) - left


def test_a_cached_onnx_file_is_reused_and_marked_used(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    G = per_sample_norm(build_generator(Pix2PixConfig(size=32, ngf=4, mask_channel=True))).eval()
    digest = backends.weights_digest(G)
    path = backends.cached_onnx(G, 4, digest)
    os.utime(path, (1000, 1000))
    again = backends.cached_onnx(G, 4, digest)
    assert again == path and path.stat().st_mtime > 1000
