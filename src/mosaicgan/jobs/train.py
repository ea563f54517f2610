"""The train jobs: pix2pix and CycleGAN on a dataset folder, every image screened by the
safety gate first; fine-tuning from another model; resuming a run."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import screening
from ..data.cells import CellDataset
from ..data.paired import PairedDataset, split_dir
from ..data.unpaired import UnpairedDataset, domain_folders
from ..errors import ArgumentError, InputError
from ..imageio import write_text
from ..models.checkpoint import Checkpoint, load_checkpoint
from ..models.shipped import default_model
from ..nets.cyclegan import CycleGANConfig
from ..nets.pix2pix import GENERATOR_SHAPE, KIND, Pix2PixConfig
from ..options import Log
from ..train.cells import CellTrainConfig, CellTrainer
from ..train.cyclegan import CycleGAN
from ..train.loop import LoopOptions, run_training, saved_options
from ..train.pix2pix import Pix2Pix


def screen_dataset(dataset: Any, log: Log = print) -> list[tuple[str, str]]:
    """Screen a training dataset (:mod:`mosaicgan.screening`): leave out every pair whose
    target shows a face its input hides or nudity (pix2pix), every image with nudity and,
    where the other domain hides faces, every image showing one (CycleGAN); say what was
    left out and why, one line per reason. Returns ``(name, reasons)`` of each.
    """
    return [tuple(row) for row in screening.screen_dataset(dataset, log)["left_out"]]


def _saved_settings(run_dir: Path, resume: bool, config: dict[str, Any] | None,
                    loop: Any) -> tuple[dict[str, Any], Any]:
    """(model settings, loop options): a resumed run's own, else the ones given."""
    saved = saved_options(run_dir) if resume else None
    opts = loop or (saved[1] if saved else LoopOptions())
    return (saved[0] if saved else dict(config or {})), opts


def _train(make_trainer: Callable, train_set: Any, val_set: Any, run_dir: Path, opts: Any, *,
           epochs: float | None, resume: bool, log: Log,
           args: dict[str, Any]):
    """Screen the data, turn epochs into steps, run the shared loop."""
    # What was left out and why is written to the run folder, for the record only: it is
    # never read back (verdicts are cached in the user's cache folder, by content).
    record = {}
    for split, data in (("train", train_set), ("val", val_set)):
        if data is not None:
            record[split] = screening.screen_dataset(data, log)
    write_text(run_dir / "screening.json", json.dumps(record, indent=1, sort_keys=True))
    if not len(train_set):
        raise InputError(args.get("dataset"), "no training images left after the safety screen")
    if epochs is not None:
        opts = replace(opts, steps=max(1, math.ceil(epochs * len(train_set) / opts.batch)))
    return run_training(make_trainer, train_set, run_dir, opts, resume=resume,
                        sample_set=val_set, args=args, log=log)


def train_pix2pix(dataset: str | Path, run_dir: str | Path, *,
                  config: dict[str, Any] | None = None, loop: Any = None,
                  epochs: float | None = None, direction: str = "AtoB", resume: bool = False,
                  init_from: str | Path | None = None, log: Log = print):
    """Train pix2pix on a pair folder or an aligned A|B folder; return a RunResult.

    config: Pix2PixConfig fields (size, ngf, gan_mode, mask_l1_weight, ...); the mask
    channel is on when the dataset has masks. loop: LoopOptions. With ``resume`` the run's
    saved model settings are used and its loop options are kept unless ``loop`` is given.
    init_from: a run folder, an exported model JSON or ``"default"`` (the shipped model):
    a new run's generator starts from its weights (fine-tuning), and takes its
    architecture unless ``config`` sets it, in which case the two must agree.
    """
    run_dir = Path(run_dir)
    if init_from is not None and resume:
        raise ArgumentError("--init-from starts a new run from another model's weights; a "
                            "resumed run keeps its own: drop one of --init-from and --resume")
    settings, opts = _saved_settings(run_dir, resume, config, loop)
    start_from = None
    if init_from is not None:
        start_from = _generator_source(init_from)
        settings = {**{k: start_from.config[k] for k in (*GENERATOR_SHAPE, "dropout")
                       if k in start_from.config}, **settings}
    train_set = PairedDataset(dataset, "train", settings.get("size", 256), direction)
    # A dataset with masks trains a restorer: the mask is the generator's 4th channel, the
    # generator corrects the input inside the mask only, and where the pairs record their
    # mosaic's grid it starts from the bicubic interpolation of the cells.
    with_grid = train_set.has_mask and all(it.grid for it in train_set.items)
    cfg = Pix2PixConfig.from_dict({"mask_channel": train_set.has_mask,
                                   "residual": train_set.has_mask,
                                   "prefill": "bicubic" if with_grid else "none", **settings})
    if cfg.prefill != "none" and not with_grid:
        raise InputError(train_set.folder, f"prefill {cfg.prefill} needs pairs that record "
                                           "their mosaic's block and origin")
    train_set.prefill = cfg.prefill
    val_set = None
    for split in ("val", "test"):
        if (Path(dataset) / split).is_dir() and split_dir(Path(dataset), split) != train_set.folder:
            val_set = PairedDataset(dataset, split, cfg.size, direction, augment=False,
                                    prefill=cfg.prefill)
            break
    if start_from is not None:
        differ = [k for k in GENERATOR_SHAPE if start_from.config.get(k) != getattr(cfg, k)]
        if differ:
            raise InputError(start_from.path, "--init-from: its generator differs from this "
                             "run's in " + ", ".join(f"{k} ({start_from.config.get(k)} vs "
                                                     f"{getattr(cfg, k)})" for k in differ))

    def make_trainer(device: Any, fmt: Any, fused: bool) -> Pix2Pix:
        trainer = Pix2Pix(cfg, device, fmt, fused)
        if start_from is not None:
            start_from.load_module("G", trainer.G)
        return trainer

    return _train(make_trainer, train_set, val_set, run_dir, opts, epochs=epochs,
                  resume=resume, log=log,
                  args={"dataset": str(dataset), "direction": direction, "epochs": epochs,
                        "init_from": _init_source(init_from, start_from)})


def _init_source(init_from: str | Path | None, start_from: Checkpoint | None) -> str | None:
    """What a new run records it was fine-tuned from (the sharpness dial's faithful end):
    ``default`` for the shipped model (portable), else the source's path."""
    if start_from is None:
        return None
    return "default" if str(init_from) == "default" else str(start_from.path.resolve())


def _generator_source(init_from: str | Path) -> Checkpoint:
    """The checkpoint a fine-tuning run starts from (``"default"``: the shipped model)."""
    ckpt = load_checkpoint(default_model() if str(init_from) == "default" else init_from)
    if ckpt.kind != KIND:
        raise InputError(ckpt.path, f"--init-from: is a {ckpt.kind} model, not pix2pix")
    return ckpt


def train_cyclegan(dataset: str | Path | None, run_dir: str | Path, *,
                   a: str | Path | None = None, b: str | Path | None = None,
                   config: dict[str, Any] | None = None, loop: Any = None,
                   epochs: float | None = None, resume: bool = False, log: Log = print):
    """Train CycleGAN on trainA/ + trainB/ of ``dataset`` (or folders ``a`` and ``b``).

    config: CycleGANConfig fields; loop: LoopOptions; resume as for :func:`train_pix2pix`.
    Samples come from testA/ + testB/ when the dataset has them.
    """
    run_dir = Path(run_dir)
    settings, opts = _saved_settings(run_dir, resume, config, loop)
    cfg = CycleGANConfig.from_dict(settings)
    fa, fb = domain_folders(dataset, "train", a, b)
    train_set = UnpairedDataset(fa, fb, cfg.size, augment=True)
    val_set = None
    if dataset is not None and (Path(dataset) / "testA").is_dir() and \
            (Path(dataset) / "testB").is_dir():
        val_set = UnpairedDataset(*domain_folders(dataset, "test"), cfg.size, augment=False)
    return _train(lambda device, fmt, fused: CycleGAN(cfg, device, fmt, fused), train_set,
                  val_set, run_dir, opts, epochs=epochs, resume=resume, log=log,
                  args={"dataset": str(dataset), "a": str(fa), "b": str(fb), "epochs": epochs})


def train_cells(dataset: str | Path, run_dir: str | Path, *,
                config: dict[str, Any] | None = None, loop: Any = None,
                epochs: float | None = None, resume: bool = False, log: Log = print):
    """Train the cell-domain restorer (:mod:`mosaicgan.nets.cellnet`) on a pair folder's
    clean targets or a folder of clean photos; return a RunResult.

    config: CellNetConfig fields (family, channels, blocks, scale) and CellTrainConfig's
    (lr, beta1, beta2, cells: the training crop's side in cells); a resumed run keeps its
    own. Validation samples come from the val/ split when there is one.
    """
    run_dir = Path(run_dir)
    settings, opts = _saved_settings(run_dir, resume, config, loop)
    cfg = CellTrainConfig.from_dict(settings)
    scale, cells = cfg.net.scale, cfg.cells
    train_set = CellDataset(dataset, "train", cells, scale)
    val_set = None
    for split in ("val", "test"):
        if (Path(dataset) / split).is_dir() and split_dir(Path(dataset), split) != train_set.folder:
            val_set = CellDataset(dataset, split, cells, scale, augment=False)
            break
    return _train(lambda device, fmt, fused: CellTrainer(cfg, device, fmt, fused), train_set,
                  val_set, run_dir, opts, epochs=epochs, resume=resume, log=log,
                  args={"dataset": str(dataset), "epochs": epochs})
