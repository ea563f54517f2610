"""Checkpoints: tensors in safetensors, everything else in a JSON beside them. Never pickle.

A run folder holds ``checkpoint.json`` (what the model is: kind, config, step, args,
version, and the name of its tensor file) and ``checkpoints/step_NNNNNNNN.safetensors``.
The JSON is replaced atomically only after its tensor file is complete, so an interrupted
save leaves the previous checkpoint intact. An exported model (``model.json`` +
``model.safetensors``) has the same JSON shape with the generator(s) only.
Loading reads the architecture from the JSON; it never guesses from a file name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes
from torch import nn

from .. import __version__
from ..errors import ModelError
from ..imageio import atomic_path, write_json

FORMAT = "mosaicgan.checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_JSON = "checkpoint.json"
MODEL_JSON = "model.json"
KEEP = 2  # tensor files kept in checkpoints/
C = TypeVar("C")


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``meta`` from the JSON, ``tensors`` from safetensors (on CPU)."""

    meta: dict[str, Any]
    tensors: dict[str, torch.Tensor]
    path: Path

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    @property
    def config(self) -> dict[str, Any]:
        return self.meta["config"]

    def model_config(self, cls: type[C]) -> C:
        """The model's config as ``cls`` (a config dataclass with ``from_dict``); a key it
        does not know, or a bad value, is a ModelError naming the file."""
        try:
            return cls.from_dict(self.config)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{self.path}: {exc}") from None

    @property
    def step(self) -> int:
        return int(self.meta.get("step", 0))

    def state_dict(self, prefix: str) -> dict[str, torch.Tensor]:
        """The tensors saved under ``prefix.`` with the prefix removed."""
        p = prefix + "."
        return {k[len(p):]: v for k, v in self.tensors.items() if k.startswith(p)}

    def load_module(self, prefix: str, module: nn.Module) -> None:
        state = self.state_dict(prefix)
        if not state:
            raise ModelError(f"{self.path}: holds no weights for {prefix!r}")
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise ModelError(f"{self.path}: weights for {prefix!r} do not fit the architecture "
                             f"in its JSON ({first[1].strip() if len(first) > 1 else first[0]})"
                             ) from None


def _optimizer_tensors(name: str, opt: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Split an optimiser's state into tensors (for safetensors) and JSON."""
    state = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars[f"{idx}.{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
              for g in state["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def _load_optimizer(ckpt: Checkpoint, name: str, opt: torch.optim.Optimizer) -> None:
    info = ckpt.meta["optimizers"][name]
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim.{name}."
    for key, value in ckpt.tensors.items():
        if key.startswith(prefix):
            idx, field = key[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[field] = value
    for key, value in info["scalars"].items():
        idx, field = key.split(".", 1)
        state.setdefault(int(idx), {})[field] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()}
              for g in info["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})
    # Moments are saved contiguous; give them their parameter's layout again (e.g.
    # channels_last): a fused optimiser walks parameter and moments as flat memory.
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if torch.is_tensor(value) and value.shape == p.shape and \
                        value.stride() != p.stride():
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def save_checkpoint(run_dir: str | Path, *, kind: str, config: dict[str, Any], step: int,
                    modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None,
                    extra: dict[str, Any] | None = None,
                    json_name: str = CHECKPOINT_JSON) -> Path:
    """Write tensors then the JSON that points at them; drop older tensor files."""
    run_dir = Path(run_dir)
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().cpu().contiguous()
    optim_meta = {}
    for name, opt in (optimizers or {}).items():
        t, meta = _optimizer_tensors(name, opt)
        tensors.update(t)
        optim_meta[name] = meta
    for key, value in (extra_tensors or {}).items():
        tensors[f"extra.{key}"] = value.detach().cpu().contiguous()

    if json_name == CHECKPOINT_JSON:
        rel = Path("checkpoints") / f"step_{step:08d}.safetensors"
    else:
        rel = Path(Path(json_name).stem + ".safetensors")
    with atomic_path(run_dir / rel) as tmp:
        # safetensors' save_file makes its file private (0600) whatever the umask; writing
        # its bytes into our own temporary file keeps the usual mode.
        tmp.write_bytes(save_bytes(tensors, metadata={"format": FORMAT, "kind": kind,
                                                      "step": str(step)}))
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "mosaicgan_version": __version__,
        "kind": kind, "config": config, "step": step, "tensors": rel.as_posix(),
        "optimizers": optim_meta, **(extra or {}),
    }
    path = write_json(run_dir / json_name, meta)
    if json_name == CHECKPOINT_JSON:
        old = sorted((run_dir / "checkpoints").glob("step_*.safetensors"))
        for stale in old[:-KEEP]:
            if stale.name != rel.name:
                stale.unlink(missing_ok=True)
    return path


def find_checkpoint_json(path: str | Path) -> Path:
    """The JSON describing a model: the file itself, or a run folder's checkpoint/model JSON."""
    path = Path(path)
    if path.is_dir():
        for name in (CHECKPOINT_JSON, MODEL_JSON):
            if (path / name).is_file():
                return path / name
        raise ModelError(f"{path}: no {CHECKPOINT_JSON} or {MODEL_JSON} in this folder "
                         "(not a mosaicgan run or model)")
    if path.is_file() and path.suffix == ".json":
        return path
    raise ModelError(f"{path}: no such model (give a run folder or its .json file)")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load the checkpoint JSON and its tensors; raise ModelError on anything inconsistent."""
    json_path = find_checkpoint_json(path)
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{json_path}: unreadable model description ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{json_path}: not a mosaicgan checkpoint (format {meta.get('format')!r})"
                         if isinstance(meta, dict) else f"{json_path}: not a mosaicgan checkpoint")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(f"{json_path}: written by a newer mosaicgan "
                         f"({meta.get('mosaicgan_version')}); upgrade to load it")
    for key in ("kind", "config", "tensors"):
        if key not in meta:
            raise ModelError(f"{json_path}: says nothing of its {key!r} (an incomplete model "
                             "description)")
    tensor_path = json_path.parent / meta["tensors"]
    if not tensor_path.is_file():
        raise ModelError(f"{tensor_path}: tensor file named by {json_path.name} is missing")
    try:
        tensors = load_file(str(tensor_path), device=str(device))
    except Exception as exc:  # safetensors raises its own error types
        raise ModelError(f"{tensor_path}: unreadable tensor file ({exc})") from None
    return Checkpoint(meta, tensors, json_path)


def restore_optimizers(ckpt: Checkpoint, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    for name, opt in optimizers.items():
        _load_optimizer(ckpt, name, opt)
