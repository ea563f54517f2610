"""The training loop shared by every model: device, precision, data order, progress,
sample sheets, checkpoints, resume, Ctrl-C.

Reads top to bottom: setup -> (resume) -> batches -> step -> log / sample / checkpoint.
A model plugs in as a *trainer* object with ``modules()``, ``optimizers()``,
``train_step(batch, amp) -> dict of losses``, ``_sample_rows(batch, amp)`` (private:
the generator's ungated output, only ever drawn through the gate in ``write_samples``),
``extra_state()`` / ``load_extra_state()`` and ``config_dict()``.

Data order is a pure function of (seed, step): sample position p = step * batch + k
falls in epoch p // N, whose permutation comes from the seed and the epoch, and each
sample's augmentation seed comes from (seed, p). So a resumed run sees exactly the
batches an uninterrupted one would, without saving any loader state.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..errors import ModelError
from ..fastpath import Decision, FastPath, path_from_dict
from ..imageio import to_image, write_image
from ..models.checkpoint import (
    CHECKPOINT_JSON,
    load_checkpoint,
    restore_optimizers,
    save_checkpoint,
)
from ..models.device import pick_device
from ..options import Log, silent
from ..sheets import sample_sheet, screened_rows
from .autotune import apply_path, training_path
from .distributed import broadcast_modules, broadcast_object, finish, from_env
from .precision import Amp, fused_adam


class _StopRequests:
    """Ctrl-C or SIGTERM (a scheduler stopping the job) during training: finish the step
    in progress, save, stop. A second Ctrl-C stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict = {}

    def __enter__(self) -> _StopRequests:
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class LoopOptions:
    steps: int = 1000
    batch: int = 1
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"  # auto: the fastest native precision here, measured (autotune)
    channels_last: bool | None = None  # None: measured, with the precision
    compile: bool = False  # torch.compile the networks (slow first steps, faster after)
    decay_from: float = 0.5  # constant lr, then linear decay to 0 from this fraction of steps
    sample_every: int = 500
    checkpoint_every: int = 500
    log_every: int = 10
    workers: int = 0
    progress: bool = True


class Trainer(Protocol):
    kind: str

    def config_dict(self) -> dict: ...
    def modules(self) -> dict[str, torch.nn.Module]: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...
    def train_step(self, batch: dict, amp: Amp) -> dict[str, torch.Tensor]: ...
    def _sample_rows(self, batch: dict, amp: Amp) -> list[list[torch.Tensor]]: ...
    def sample_masks(self, batch: dict) -> list[np.ndarray] | None: ...
    def extra_state(self) -> dict[str, torch.Tensor]: ...
    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None: ...


@dataclass
class RunResult:
    run_dir: Path
    step: int
    losses: dict[str, float]  # mean over the last log window
    seconds: float
    images_per_second: float


class StepSampler(Sampler):
    """Yields ``(index, augmentation_seed)`` for steps ``start..steps-1`` of this rank."""

    def __init__(self, n: int, batch: int, seed: int, start: int, steps: int,
                 rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.steps, self.rank, self.world = start, steps, rank, world
        self._perm: tuple[int, np.ndarray] | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return self._perm[1]

    def __len__(self) -> int:
        return max(0, self.steps - self.start) * self.batch

    def __iter__(self) -> Iterator[tuple[int, int]]:
        global_batch = self.batch * self.world
        for step in range(self.start, self.steps):
            first = step * global_batch + self.rank * self.batch
            for p in range(first, first + self.batch):
                epoch, k = divmod(p, self.n)
                yield int(self._permutation(epoch)[k]), self.seed * 1_000_000_007 + p


def lr_factor(step: int, steps: int, decay_from: float) -> float:
    """1 until ``decay_from * steps``, then linearly down to 0 at ``steps``."""
    start = int(decay_from * steps)
    if step < start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, steps - start))


def collate(items: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for key in items[0]:
        vals = [it[key] for it in items]
        out[key] = torch.stack(vals) if torch.is_tensor(vals[0]) else vals
    return out


def _to_device(batch: dict, device: torch.device) -> dict:
    nb = device.type == "cuda"
    return {k: v.to(device, non_blocking=nb) if torch.is_tensor(v) else v
            for k, v in batch.items()}


def _rng_tensors(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"rng_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["rng_cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng(ckpt_tensors: dict[str, torch.Tensor], device: torch.device) -> None:
    if "extra.rng_cpu" in ckpt_tensors:
        torch.set_rng_state(ckpt_tensors["extra.rng_cpu"].cpu())
    if device.type == "cuda" and "extra.rng_cuda" in ckpt_tensors:
        torch.cuda.set_rng_state(ckpt_tensors["extra.rng_cuda"].cpu(), device)


def saved_options(run_dir: str | Path) -> tuple[dict, LoopOptions] | None:
    """(model config, loop options) of an existing run, or None when there is none."""
    path = Path(run_dir) / CHECKPOINT_JSON
    if not path.is_file():
        return None
    meta = json.loads(path.read_text())
    return meta["config"], LoopOptions(**meta["loop"])


@dataclass
class _Run:
    """What one training run holds once set up: the trainer, where it runs, how it saves."""

    trainer: Trainer
    opts: LoopOptions
    run_dir: Path
    device: torch.device
    ddp: Any  # distributed.Dist
    amp: Amp
    precision: str
    channels_last: bool
    meta: dict[str, Any]
    samples: dict | None = None  # a fixed batch drawn on the sample sheets

    def save(self, step: int) -> None:
        if not self.ddp.main:
            return
        t = self.trainer
        save_checkpoint(self.run_dir, kind=t.kind, config=t.config_dict(), step=step,
                        modules=t.modules(), optimizers=t.optimizers(),
                        extra_tensors={**t.extra_state(), **_rng_tensors(self.device)},
                        extra=self.meta)

    def write_samples(self, step: int) -> None:
        """A sample sheet; each panel screened by the safety gate against its input."""
        if self.samples is None or not self.ddp.main:
            return
        rows = [[to_image(t) for t in row]
                for row in self.trainer._sample_rows(self.samples, self.amp)]
        write_image(self.run_dir / "samples" / f"step_{step:08d}.png",
                    sample_sheet(screened_rows(rows, self.trainer.sample_masks(self.samples))))


def _set_up(make_trainer: Callable[[torch.device, torch.memory_format, bool], Trainer],
            opts: LoopOptions, run_dir: Path, args: dict | None, first_batch: dict,
            recorded: FastPath | None, log: Log) -> _Run:
    """Device, processes, the fast path (measured, cached, or the resumed run's own) and
    the trainer built on it."""
    device = pick_device(opts.device)
    ddp = from_env(device)
    if ddp.world > 1 and device.type == "cuda":
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    decision = _fast_path(make_trainer, opts, device, ddp, _to_device(first_batch, device),
                          recorded)
    if ddp.main:
        log(f"fast path: {decision.describe()}")
    path = decision.path
    torch.manual_seed(opts.seed)
    trainer = make_trainer(device, path.memory_format, fused_adam(device))
    apply_path(trainer, path)
    if ddp.world > 1:
        broadcast_modules(trainer.modules())
    if opts.compile:
        for module in trainer.modules().values():
            module.compile()  # in place: state_dict keys stay those of the plain module
    # A trainer may keep its tensors contiguous where channels_last is wrong or slow.
    channels_last = getattr(trainer, "memory_format", path.memory_format) == torch.channels_last
    meta = {"loop": asdict(opts), "args": args or {},
            "runtime": {"device": str(device), "precision": path.precision,
                        "channels_last": channels_last, "winograd": path.winograd,
                        "compile": opts.compile,
                        "fast_path": decision.describe()}}
    return _Run(trainer, opts, run_dir, device, ddp, Amp(device, path.precision, ddp.world),
                path.precision, channels_last, meta)


def _fast_path(make_trainer: Callable, opts: LoopOptions, device: torch.device, ddp: Any,
               batch: dict, recorded: FastPath | None) -> Decision:
    """The path to train on. A resumed run keeps the one it was trained with (so it
    continues exactly) unless a flag says otherwise; under torchrun rank 0 measures and
    every process takes its choice."""
    if recorded is not None and opts.precision in ("auto", recorded.precision) and \
            opts.channels_last in (None, recorded.channels_last):
        return Decision(recorded, source="the resumed run's")
    decision = None
    if ddp.main:
        workload = {**_model_key(make_trainer, device), "batch": opts.batch,
                    "shapes": {k: list(v.shape) for k, v in batch.items() if torch.is_tensor(v)}}
        decision = training_path(make_trainer, batch, device, precision=opts.precision,
                                 channels_last=opts.channels_last, seed=opts.seed,
                                 workload=workload)
    if ddp.world > 1:
        decision = broadcast_object(decision)
    assert decision is not None
    return decision


def _model_key(make_trainer: Callable, device: torch.device) -> dict:
    """The trainer's kind and model config, for the cache key: built on the meta device
    (no memory, no arithmetic), or for real when that fails (a factory loading weights)."""
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # weights loaded into meta tensors: a no-op
            trainer = make_trainer(torch.device("meta"), torch.contiguous_format, False)
    except Exception:
        trainer = make_trainer(device, torch.contiguous_format, False)
    return {"kind": trainer.kind, "config": trainer.config_dict()}


def _recorded_path(run_dir: Path) -> FastPath | None:
    """The path an existing run was trained with (None for a run from before it was saved)."""
    try:
        runtime = json.loads((run_dir / CHECKPOINT_JSON).read_text()).get("runtime", {})
    except (OSError, ValueError):
        return None
    if "precision" not in runtime:
        return None
    return path_from_dict(runtime)


def _resume(run: _Run, log: Log) -> int:
    """Load the run's last checkpoint (weights, optimisers, extra state, RNG); its step."""
    trainer = run.trainer
    ckpt = load_checkpoint(run.run_dir)
    if ckpt.kind != trainer.kind:
        raise ModelError(f"{ckpt.path}: is a {ckpt.kind} run, not {trainer.kind}")
    if ckpt.config != trainer.config_dict():
        diff = sorted(k for k in ckpt.config if ckpt.config[k] != trainer.config_dict().get(k))
        raise ModelError(f"{ckpt.path}: the run's model settings differ ({', '.join(diff)})")
    for name, module in trainer.modules().items():
        ckpt.load_module(name, module)
    restore_optimizers(ckpt, trainer.optimizers())
    trainer.load_extra_state({k[len("extra."):]: v for k, v in ckpt.tensors.items()
                              if k.startswith("extra.")})
    _set_rng(ckpt.tensors, run.device)
    log(f"resuming {run.run_dir} at step {ckpt.step}")
    return ckpt.step


class _Meter:
    """Losses averaged over ``log_every`` steps, the global image rate, log.jsonl and the
    progress bar."""

    def __init__(self, run: _Run, start: int):
        self.run, self.log_file = run, run.run_dir / "log.jsonl"
        self.window: dict[str, list[torch.Tensor]] = {}
        self.last: dict[str, float] = {}
        self.t_window, self.n_window, self.rate = time.perf_counter(), 0, 0.0
        self.bar = None
        if run.opts.progress and run.ddp.main:
            from tqdm import tqdm
            self.bar = tqdm(total=run.opts.steps, initial=start, unit="step",
                            dynamic_ncols=True)

    def add(self, step: int, losses: dict[str, torch.Tensor], images: int,
            factor: float) -> None:
        opts = self.run.opts
        self.n_window += images * self.run.ddp.world  # the global rate
        for k, v in losses.items():
            self.window.setdefault(k, []).append(v)
        if step % opts.log_every == 0 or step == opts.steps:
            self.last = {k: float(torch.stack(v).float().mean()) for k, v in self.window.items()}
            now = time.perf_counter()
            self.rate = self.n_window / max(now - self.t_window, 1e-9)
            self.t_window, self.n_window, self.window = now, 0, {}
            if self.run.ddp.main:
                with self.log_file.open("a") as f:
                    f.write(json.dumps({"step": step, **self.last, "lr_factor": factor,
                                        "images_per_s": round(self.rate, 3)}) + "\n")
            if self.bar is not None:
                self.bar.set_postfix_str(" ".join(f"{k} {v:.3f}" for k, v in self.last.items())
                                         + f" | {self.rate:.2f} img/s")
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_training(make_trainer: Callable[[torch.device, torch.memory_format, bool], Trainer],
                 train_set: Dataset, run_dir: str | Path, opts: LoopOptions, *,
                 resume: bool = False, sample_set: Dataset | None = None,
                 args: dict | None = None, log: Log = print) -> RunResult:
    """Train until ``opts.steps``; checkpoint every ``checkpoint_every`` steps and at the end.

    With ``resume`` the last checkpoint in ``run_dir`` is loaded first (its step, weights,
    optimiser state and RNG), so the result matches an uninterrupted run.
    Ctrl-C saves a checkpoint and re-raises KeyboardInterrupt.
    """
    run_dir = Path(run_dir)
    has_run = (run_dir / CHECKPOINT_JSON).is_file()
    if has_run and not resume:
        raise ModelError(f"{run_dir}: already holds a training run; "
                         "add --resume to continue it or choose another output folder")
    first = collate([train_set[k] for k in StepSampler(len(train_set), opts.batch, opts.seed,
                                                        0, 1)])
    recorded = _recorded_path(run_dir) if resume and has_run else None
    if resume and has_run:  # what the run recorded (e.g. what it was fine-tuned from) stays
        given = {k: v for k, v in (args or {}).items() if v is not None}
        args = {**json.loads((run_dir / CHECKPOINT_JSON).read_text()).get("args", {}), **given}
    run = _set_up(make_trainer, opts, run_dir, args, first, recorded, log)
    if not run.ddp.main:
        log = silent  # only rank 0 prints, writes checkpoints, samples and logs
    start = _resume(run, log) if resume and has_run else 0
    sampler = StepSampler(len(train_set), opts.batch, opts.seed, start, opts.steps,
                          run.ddp.rank, run.ddp.world)
    loader = DataLoader(train_set, batch_size=opts.batch, sampler=sampler,
                        num_workers=opts.workers, collate_fn=collate,
                        pin_memory=run.device.type == "cuda", persistent_workers=False,
                        generator=torch.Generator().manual_seed(opts.seed))
    source = sample_set if sample_set is not None and len(sample_set) else train_set
    if opts.sample_every > 0:
        run.samples = _to_device(collate([source[i] for i in range(min(4, len(source)))]),
                                 run.device)
    run_dir.mkdir(parents=True, exist_ok=True)
    log(f"training {run.trainer.kind} on {run.device} ({run.precision}"
        f"{', channels_last' if run.channels_last else ''}), steps {start}..{opts.steps}, "
        f"batch {opts.batch}{f' x {run.ddp.world} processes' if run.ddp.world > 1 else ''}, "
        f"{len(train_set)} training items -> {run_dir}")
    meter = _Meter(run, start)
    t_start = time.perf_counter()
    step = start
    stop = _StopRequests()
    try:
        with stop:
            for batch in loader:
                factor = lr_factor(step, opts.steps, opts.decay_from)
                for opt in run.trainer.optimizers().values():
                    for group in opt.param_groups:
                        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor
                losses = run.trainer.train_step(_to_device(batch, run.device), run.amp)
                step += 1
                meter.add(step, losses, len(batch["path"]), factor)
                if opts.sample_every > 0 and step % opts.sample_every == 0:
                    run.write_samples(step)
                if step % opts.checkpoint_every == 0 or step == opts.steps:
                    run.save(step)
                if stop.requested:  # Ctrl-C or SIGTERM: the step is whole, save and stop
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        meter.close()
        run.save(step)
        log(f"interrupted: checkpoint saved at step {step} in {run_dir}; "
            "run again with --resume to continue")
        finish(run.ddp)
        raise
    meter.close()
    if step == start and start > 0:
        log(f"{run_dir}: already trained to step {start}")
    if run.samples is not None and step % max(opts.sample_every, 1) != 0:
        run.write_samples(step)
    finish(run.ddp)
    return RunResult(run_dir, step, meter.last, time.perf_counter() - t_start, meter.rate)


def with_overrides(opts: LoopOptions, **changes: Any) -> LoopOptions:
    """``opts`` with the non-None ``changes`` applied."""
    return replace(opts, **{k: v for k, v in changes.items() if v is not None})
