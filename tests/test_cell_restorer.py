"""The cell-domain restorer: cells read on the grid, one model for every block, the cell
means kept, a short training run ahead of where it started."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from mosaicgan.find import CellGrid, block_means, cell_grid
from mosaicgan.models.checkpoint import save_checkpoint
from mosaicgan.models.restorer import NO_GRID, CellRestorer, Restorer
from mosaicgan.mosaic import pixelate_array
from mosaicgan.nets.cellnet import KIND, CellNetConfig, build_cellnet

SMALL = CellNetConfig(channels=16, blocks=2)


def _restorer(seed: int = 0) -> CellRestorer:
    torch.manual_seed(seed)
    net = build_cellnet(SMALL)
    with torch.no_grad():  # a net that is not the bicubic baseline (its last layer is 0)
        for p in net.tail[-1].parameters():
            p.normal_(0, 0.05)
    return CellRestorer(net.eval(), SMALL, torch.device("cpu"))


def test_cells_of_a_clean_mosaic_are_its_block_means():
    image = data.astronaut()[:200, :232]
    mask = np.ones(image.shape[:2], bool)
    mosaic = pixelate_array(image, mask, 8, (0, 0))
    cells, corner = cell_grid(mosaic, 8, (0, 0), (0, 0, 232, 200))
    assert corner == (0, 0)
    np.testing.assert_allclose(cells, np.round(block_means(image, 8)), atol=1e-4)


@pytest.mark.parametrize("block", [6, 11, 24])
def test_one_model_restores_any_block_and_keeps_every_cell_mean(block):
    image = data.chelsea()
    mask = np.zeros(image.shape[:2], bool)
    mask[50:230, 90:330] = True
    origin = (5 % block, 3 % block)
    mosaic = pixelate_array(image, mask, block, origin)
    result = _restorer().restore(mosaic, mask, [(mask, CellGrid.integer_grid(block, origin))])
    assert result.regions[0].restored
    out = result.image
    assert (out[~mask] == mosaic[~mask]).all()  # nothing outside the region moves
    # Cells whole inside the region and away from its feathered edge.
    inner = np.zeros_like(mask)
    inner[53:227, 93:327] = True
    ys, xs = np.nonzero(mask)
    changed = 0
    for cy in range((ys.min() - origin[1]) // block + 1, (ys.max() - origin[1]) // block - 1):
        for cx in range((xs.min() - origin[0]) // block + 1, (xs.max() - origin[0]) // block - 1):
            y0, x0 = origin[1] + cy * block, origin[0] + cx * block
            cell = (slice(y0, y0 + block), slice(x0, x0 + block))
            if not inner[cell].all():
                continue
            np.testing.assert_allclose(out[cell].reshape(-1, 3).mean(0),
                                       mosaic[cell].reshape(-1, 3).mean(0), atol=1.0)
            changed += int(out[cell].std() > 0)
    assert changed > 0  # the cells were restored, not left flat


def test_a_region_without_a_grid_is_left_as_it_was_with_the_reason():
    image = data.chelsea()
    mask = np.zeros(image.shape[:2], bool)
    mask[60:140, 60:160] = True
    result = _restorer().restore(image, mask, [])
    assert not result.regions[0].restored and result.regions[0].reasons == [NO_GRID]
    assert (result.image == image).all()


def test_a_saved_cell_model_loads_as_a_cell_restorer(tmp_path):
    net = build_cellnet(SMALL)
    save_checkpoint(tmp_path, kind=KIND, config={**SMALL.to_dict(), "lr": 2e-4},
                    step=1, modules={"G": net})
    restorer = Restorer.from_checkpoint(tmp_path)
    assert isinstance(restorer, CellRestorer) and restorer.cfg == SMALL


def test_a_short_training_run_gets_ahead_of_bicubic(tmp_path):
    from mosaicgan.imageio import write_image
    from mosaicgan.jobs.train import train_cells
    from mosaicgan.train.loop import LoopOptions

    for split, names in (("train", ["coffee", "chelsea", "rocket"]), ("val", ["astronaut"])):
        (tmp_path / "photos" / split).mkdir(parents=True)
        for name in names:
            write_image(tmp_path / "photos" / split / f"{name}.png", getattr(data, name)())
    opts = LoopOptions(steps=30, batch=4, precision="fp32", sample_every=0,
                       checkpoint_every=30, progress=False)
    train_cells(tmp_path / "photos", tmp_path / "run", config={"channels": 16, "blocks": 2,
                                                                "lr": 1e-3, "cells": 12},
                loop=opts, log=lambda _: None)
    from mosaicgan.data.cells import CellDataset
    from mosaicgan.models.checkpoint import load_checkpoint
    from mosaicgan.train.cells import CellTrainConfig, CellTrainer
    from mosaicgan.train.precision import Amp

    ckpt = load_checkpoint(tmp_path / "run")
    trainer = CellTrainer(CellTrainConfig.from_dict(ckpt.config), torch.device("cpu"))
    ckpt.load_module("G", trainer.G)
    val = CellDataset(tmp_path / "photos", "val", 12, augment=False)
    batch = {k: torch.stack([val[0][k]]) for k in ("a", "b")}
    net, bicubic = trainer.validation_psnr(batch, Amp(torch.device("cpu"), "fp32", 1))
    assert net > bicubic


def test_the_training_screen_judges_each_target_against_its_whole_mosaic(tmp_path):
    """A photo whose face is shown (no stored mosaic hides it) still leaves the cell
    restorer's training set: its items mosaic the whole crop, so the face is one the
    input hides."""
    from mosaicgan import screening
    from mosaicgan.data.cells import CellDataset
    from mosaicgan.imageio import write_image

    (tmp_path / "train").mkdir()
    write_image(tmp_path / "train" / "astronaut.png", data.astronaut())
    write_image(tmp_path / "train" / "coffee.png", data.coffee())
    dataset = CellDataset(tmp_path, "train")
    record = screening.screen_dataset(dataset, log=lambda _: None)
    kept = [item.b.name for item in dataset.items]
    assert kept == ["coffee.png"], record
    assert any("astronaut" in name for name, _ in record["left_out"])


def test_a_rescaled_mosaic_is_restored_on_its_resampled_grid():
    image = data.chelsea()
    mask = np.zeros(image.shape[:2], bool)
    mask[48:240, 96:336] = True
    shrunk = cv2.resize(pixelate_array(image, mask, 12, (0, 0)), None, fx=0.7, fy=0.7,
                        interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8), None, fx=0.7, fy=0.7,
                            interpolation=cv2.INTER_NEAREST) > 0
    inner = cv2.erode(small_mask.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    grid = CellGrid((8.4, 8.4), (0.0, 0.0))
    restorer = _restorer()
    ys, xs = np.nonzero(inner)
    box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    plan = restorer._plan(shrunk, inner, box, (0, 0, 64), [(inner, grid)])
    assert plan.rescaled is not None and plan.grid == (SMALL.scale, (0, 0))  # 8 px cells
    result = restorer.restore(shrunk, inner, [(inner, grid)])
    assert result.regions[0].restored
    assert (result.image[~inner] == shrunk[~inner]).all()
    assert (result.image[inner] != shrunk[inner]).any()


def test_train_cells_on_the_command_line_saves_and_resumes_its_settings(tmp_path):
    from click.testing import CliRunner

    from mosaicgan.cli import main
    from mosaicgan.imageio import write_image
    from mosaicgan.models.checkpoint import load_checkpoint

    (tmp_path / "photos").mkdir()
    write_image(tmp_path / "photos" / "coffee.png", data.coffee())
    run = str(tmp_path / "run")
    common = ["train", "cells", str(tmp_path / "photos"), "-o", run, "--precision", "fp32",
              "--sample-every", "0"]
    result = CliRunner().invoke(main, [*common, "--steps", "2", "--channels", "16",
                                       "--blocks", "1", "--family", "rcan", "--scale", "4",
                                       "--cells", "8"])
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(run)
    assert (ckpt.kind, ckpt.step) == (KIND, 2)
    assert {k: ckpt.config[k] for k in ("family", "channels", "blocks", "scale", "cells")} == \
        {"family": "rcan", "channels": 16, "blocks": 1, "scale": 4, "cells": 8}
    refused = CliRunner().invoke(main, [*common, "--resume", "--steps", "3", "--channels", "32"])
    assert refused.exit_code != 0 and "--channels" in refused.output
    resumed = CliRunner().invoke(main, [*common, "--resume", "--steps", "3"])
    assert resumed.exit_code == 0, resumed.output
    ckpt = load_checkpoint(run)
    assert ckpt.step == 3 and ckpt.config["channels"] == 16 and ckpt.config["cells"] == 8


def test_the_train_cells_help_states_the_network_defaults():
    from click.testing import CliRunner

    from mosaicgan.cli import main
    from mosaicgan.train.cells import CellTrainConfig

    said = " ".join(CliRunner().invoke(main, ["train", "cells", "--help"]).output.split())
    net, train = CellNetConfig(), CellTrainConfig()
    for text in (f"[{net.family}]", f"Features per cell [{net.channels}]",
                 f"Residual blocks [{net.blocks}]", f"to it [{net.scale}]",
                 f"in cells [{train.cells}]", f"rate [{train.lr:.0e}]".replace("e-0", "e-")):
        assert text in said, text


def _saved_cell_run(tmp_path, restorer: CellRestorer):
    run = tmp_path / "cellrun"
    save_checkpoint(run, kind=KIND, config={**SMALL.to_dict(), "lr": 2e-4, "cells": 24},
                    step=1, modules={"G": restorer._net.module})
    return run


def test_a_cell_model_exports_as_safetensors_and_onnx_and_restores_the_same(tmp_path):
    import json

    import onnx
    import onnxruntime as ort

    from mosaicgan.models.export import export_model
    from mosaicgan.safety import screen_region

    restorer = _restorer()
    run = _saved_cell_run(tmp_path, restorer)
    shipped = export_model(run, tmp_path / "out" / "cells.json", half=False)
    meta = json.loads(shipped.read_text())
    assert meta["kind"] == KIND and meta["exported_from"] == "cellrun"  # no absolute path
    image = data.coffee()[:256, :256]
    mask = np.zeros(image.shape[:2], bool)
    mask[64:160, 80:192] = True
    mosaic = pixelate_array(image, mask, 8, (0, 0))
    grids = [(mask, CellGrid.integer_grid(8, (0, 0)))]
    assert not screen_region(mosaic, (80, 64, 112, 96))  # the gate lets this region through
    before = restorer.restore(mosaic, mask, grids).image
    after = Restorer.from_checkpoint(shipped, device="cpu").restore(mosaic, mask, grids).image
    assert np.array_equal(before, after) and not np.array_equal(before, mosaic)

    path = export_model(run, tmp_path / "out" / "cells.onnx", format="onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["mosaicgan.kind"] == KIND and props["mosaicgan.scale"] == str(SMALL.scale)
    assert props["mosaicgan.input_range"] == "[0, 1]"
    assert "/" not in props["mosaicgan.exported_from"]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    net = restorer._net.module
    for h, w in ((12, 12), (20, 33)):  # any grid of cells, one graph
        cells = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            expected = net(cells).numpy()
        got = session.run(None, {"input": cells.numpy()})[0]
        assert got.shape == expected.shape == (2, 3, h * SMALL.scale, w * SMALL.scale)
        assert np.abs(got - expected).max() < 1e-4


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_each_backend_runs_a_cell_model_within_tolerance(backend):
    from mosaicgan.fastpath import FastPath
    from mosaicgan.models import backends

    cpu = torch.device("cpu")
    if backend not in backends.available(cpu):
        pytest.skip(f"{backend} is not installed (an optional extra)")
    net = _restorer()._net.module
    run = backends.build(net, FastPath(backend=backend), cpu, 3, backends.weights_digest(net))
    for side in (16, 40):
        cells = torch.rand(1, 3, side, side, generator=torch.Generator().manual_seed(side))
        with torch.no_grad():
            expected = net(cells)
        assert backends.output_gap(run(cells), expected) < backends.OUTPUT_TOLERANCE
