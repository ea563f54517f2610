"""What a model is, read from its JSON without loading its weights: kind, what it does,
training size, steps, its card; and the models found under a folder of runs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError
from ..models.checkpoint import CHECKPOINT_JSON, MODEL_JSON, find_checkpoint_json
from ..models.shipped import default_model

CARD_NAMES = ("MODEL_CARD.md", "README.md")  # a card beside the JSON, or in the run folder


@dataclass(frozen=True)
class ModelInfo:
    """One model: ``source`` is what ``load_restorer``/``load_translator`` take."""

    source: str
    name: str
    kind: str  # "pix2pix" or "cyclegan"
    task: str  # "restore" (pix2pix with a mask channel) or "translate"
    size: int | None  # training crop side, px
    steps: int
    megabytes: float  # the weights on disk
    card: str  # markdown: the model's card, or "" when it has none

    @property
    def directions(self) -> tuple[str, ...]:
        """The directions ``translate`` accepts (a CycleGAN has a generator each way)."""
        return ("AtoB", "BtoA") if self.kind == "cyclegan" else ("AtoB",)


def describe_model(source: str | Path, name: str | None = None) -> ModelInfo:
    """A run folder, a model JSON or ``default`` (the shipped model), described; a path that
    is not a mosaicgan model is a ModelError in one line. name: how to call it (default:
    the run folder's or the JSON's name)."""
    path = default_model() if str(source) == "default" else find_checkpoint_json(source)
    try:
        meta = json.loads(path.read_text())
        kind = str(meta["kind"])
        config = dict(meta.get("config") or {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable model description ({exc})") from None
    tensors = path.parent / str(meta.get("tensors", ""))
    task = "restore" if kind == "pix2pix" and config.get("mask_channel") else "translate"
    if name is None:
        name = "shipped restorer" if str(source) == "default" else (
            path.parent.name if path.name in (CHECKPOINT_JSON, MODEL_JSON) else path.stem)
    return ModelInfo(source=str(source), name=name, kind=kind, task=task,
                     size=config.get("size"), steps=int(meta.get("step", 0)),
                     megabytes=tensors.stat().st_size / 1e6 if tensors.is_file() else 0.0,
                     card=_card(path, meta))


def _card(path: Path, meta: dict) -> str:
    for name in CARD_NAMES:
        if (path.parent / name).is_file():
            return (path.parent / name).read_text(errors="replace")
    card = meta.get("card")
    if isinstance(card, dict) and card:
        return "\n".join(f"- **{k}**: {v}" for k, v in card.items())
    return card if isinstance(card, str) else ""


def find_models(folder: str | Path) -> list[ModelInfo]:
    """Every run or exported model under ``folder`` (searched recursively), by name; one
    whose JSON cannot be read is left out (it is not a model anyone can load)."""
    folder = Path(folder)
    found = []
    for path in sorted(folder.rglob("*.json")):
        if path.name != CHECKPOINT_JSON and not _is_model_json(path):
            continue
        source = path.parent if path.name == CHECKPOINT_JSON else path
        try:
            found.append(describe_model(source, str(source.relative_to(folder))))
        except ModelError:
            continue
    return found


def _is_model_json(path: Path) -> bool:
    """An exported model's JSON (not a run's log, regions or report)."""
    try:
        return json.loads(path.read_text()).get("format") == "mosaicgan.checkpoint" and \
            path.name != CHECKPOINT_JSON
    except (OSError, ValueError, AttributeError):
        return False
