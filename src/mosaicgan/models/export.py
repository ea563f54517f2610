"""Exporting a run's generator(s) alone: the form a model is shipped in (safetensors + JSON)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .checkpoint import load_checkpoint, save_checkpoint


def export_model(run: str | Path, out_json: str | Path, *, half: bool = True,
                 card: dict[str, Any] | None = None) -> Path:
    """Write a run's generator(s) alone as ``<name>.json`` + ``<name>.safetensors``, the
    form a model is shipped in (fp16 by default: half the size, restored to fp32 on load).
    """
    ckpt = load_checkpoint(run)
    prefixes = ("G.",) if ckpt.kind == "pix2pix" else ("G_A.", "G_B.")
    modules = {}
    for prefix in prefixes:
        state = {k: (v.half() if half and v.is_floating_point() else v)
                 for k, v in ckpt.state_dict(prefix[:-1]).items()}
        modules[prefix[:-1]] = _StateHolder(state)
    out_json = Path(out_json)
    return save_checkpoint(out_json.parent, kind=ckpt.kind, config=ckpt.config, step=ckpt.step,
                           modules=modules, json_name=out_json.name,
                           extra={"exported_from": str(ckpt.path), "dtype":
                                  "float16" if half else "float32", "card": card or {}})


class _StateHolder:
    """Quacks like a module for save_checkpoint: a fixed state dict."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state
