"""An offline image classifier for Class Activation Maps: by default EfficientNet-Lite0 on
ImageNet (:mod:`mosaicgan.nets.lite0`: the network, its shipped weights, the class names).

A user's own classifier comes in through a JSON config (:class:`ClassifierConfig`):
safetensors weights from a local file, an architecture from timm or from any importable
``module:callable``, and the dotted names of its feature layer and linear head.
"""

from __future__ import annotations

import difflib
import importlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from ..nets.lite0 import (
    LITE_MEAN,
    LITE_STD,
    EfficientNetLite0,
    imagenet_classes,
    load_lite0,
)
from .base import UnknownNameError

DEFAULT_SIZE = 224
CROP_FRACTION = 0.875  # ImageNet evaluation: resize to 256, keep the central 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # timm's default for most ImageNet models
IMAGENET_STD = (0.229, 0.224, 0.225)

def resolve_target(spec: str | int, names: Sequence[str]) -> int:
    """A class index from an index, a digit string or a name.

    Names match exactly (ignoring case) first, then as a unique whole word ("Persian" ->
    Persian cat), then as a unique substring ("tabb" -> tabby). ``"auto"`` (the top
    class) is the caller's business.

    Raises:
        UnknownNameError (a ValueError): index out of range, unknown name (the one-line
            message lists close matches), or a name matching several classes (lists them).
    """
    if isinstance(spec, bool):
        raise UnknownNameError(f"class must be a name or an index, got {spec!r}")
    if isinstance(spec, int | np.integer) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if not 0 <= index < len(names):
            raise UnknownNameError(f"class index {index} out of range 0-{len(names) - 1}")
        return index
    if not isinstance(spec, str):
        raise UnknownNameError(f"class must be a name or an index, got {type(spec).__name__}")
    query = spec.strip().lower()
    lower = [n.lower() for n in names]
    exact = [i for i, n in enumerate(lower) if n == query]
    substring = [i for i, n in enumerate(lower) if query and query in n]
    # Whole-word hits first: "cat" means "tiger cat" before "oystercatcher".
    words = [i for i in substring if f" {query} " in f" {lower[i].replace('-', ' ')} "]
    for hits in (exact, words, substring):
        if len(hits) == 1:
            return hits[0]
        if hits:
            listed = ", ".join(f"{names[i]} ({i})" for i in hits[:5])
            more = f" and {len(hits) - 5} more" if len(hits) > 5 else ""
            advice = "give an index" if len({lower[i] for i in hits}) == 1 else \
                "give a longer name or an index"
            raise UnknownNameError(f"class {spec!r} is ambiguous: {listed}{more}; {advice}")
    close = difflib.get_close_matches(query, lower, n=5, cutoff=0.6)
    # Also words of the query found in names ("tabby kitten" -> tabby).
    parts = [w for w in query.replace("-", " ").split() if len(w) >= 3]
    close += [n for n in lower if any(w in n for w in parts) and n not in close]
    shown = list(dict.fromkeys(names[lower.index(n)] for n in close))[:5]
    suggestion = f"close matches: {', '.join(shown)}" if shown else \
        f"no close matches (give a class name or an index 0-{len(names) - 1})"
    raise UnknownNameError(f"unknown class {spec!r}; {suggestion}")


# --------------------------------------------------------------------------- classifier


@dataclass(frozen=True)
class ClassifierConfig:
    """How to build a user's classifier (the JSON file given to :meth:`Classifier.from_config`).

    Attributes:
        checkpoint: a local ``.safetensors`` file (never a pickle); relative paths are
            relative to the JSON file.
        arch: ``"efficientnet_lite0"``, ``"timm:<model name>"`` (needs ``pip install timm``)
            or ``"package.module:callable"`` returning an ``nn.Module`` (called with
            ``arch_args``). Importing a module runs its code: only use your own.
        feature_layer: dotted name of the module whose output ``(B,K,h,w)`` feeds global
            pooling (for timm models usually ``"act2"`` or ``"head.act"``...).
        head: dotted name of the final ``nn.Linear`` (None: only Grad-CAM works).
        classes: a text file with one class name per line, ``"imagenet"`` for the bundled
            ImageNet names, or None for ``"class 0"``, ``"class 1"``, ...
        mean, std: per-channel normalisation of [0, 1] RGB input (None: 0.5/0.5 for
            efficientnet_lite0, ImageNet's otherwise).
        size: the short side images are resized to for classification.
        arch_args: keyword arguments for the architecture's constructor.
    """

    checkpoint: str
    arch: str = "efficientnet_lite0"
    feature_layer: str | None = None
    head: str | None = None
    classes: str | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    size: int = DEFAULT_SIZE
    arch_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClassifierConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"classifier config: unknown keys {unknown}; known: {sorted(known)}")
        if "checkpoint" not in data:
            raise ModelError("classifier config: 'checkpoint' (a .safetensors file) is required")
        data = dict(data)
        for key in ("mean", "std"):
            if data.get(key) is not None:
                data[key] = tuple(float(v) for v in data[key])
        return cls(**data)


class Classifier:
    """An image classifier plus what CAMs need from it: its feature layer and linear head.

    Build it once (:meth:`default`, :meth:`from_config`) and reuse it; it never moves
    itself between devices (move ``classifier.model`` yourself; inputs follow it).

    Attributes:
        model: the ``nn.Module``, in eval mode: ``(B,3,H,W)`` normalised -> ``(B,N)`` logits.
        features_layer: the module whose ``(B,K,h,w)`` output feeds global pooling.
        head: the final ``nn.Linear`` ``(N,K)``, or None when the model has no such head.
        names: the N class names.
        mean, std: normalisation of [0, 1] RGB input; size: short side for classification.
        lock: held by :func:`~mosaicgan.regions.cam.class_activation_map` so CAMs of one
            classifier in several threads do not see each other's activations.
    """

    _default: Classifier | None = None
    _default_lock = threading.Lock()

    def __init__(self, model: nn.Module, names: Sequence[str], *, features_layer: nn.Module,
                 head: nn.Linear | None, mean: Sequence[float] = LITE_MEAN,
                 std: Sequence[float] = LITE_STD, size: int = DEFAULT_SIZE):
        if head is not None and not isinstance(head, nn.Linear):
            raise ModelError(f"the head must be an nn.Linear, got {type(head).__name__}")
        if head is not None and head.out_features != len(names):
            raise ModelError(f"{len(names)} class names for a head with "
                             f"{head.out_features} outputs")
        self.model = model.eval()
        self.names = list(names)
        self.features_layer = features_layer
        self.head = head
        self.mean = tuple(float(v) for v in mean)
        self.std = tuple(float(v) for v in std)
        self.size = int(size)
        self.lock = threading.Lock()  # held by CAMs while their hooks are on the model

    @classmethod
    def default(cls) -> Classifier:
        """EfficientNet-Lite0 on ImageNet, loaded on first use and shared afterwards."""
        with cls._default_lock:
            if cls._default is None:
                model = load_lite0()
                cls._default = cls(model, imagenet_classes(), features_layer=model.head_act,
                                   head=model._fc)
            return cls._default

    @classmethod
    def from_config(cls, config: str | Path | dict[str, Any] | ClassifierConfig) -> Classifier:
        """A user's classifier from a JSON file, a dict or a :class:`ClassifierConfig`.

        Raises:
            ModelError: missing file, unknown architecture, timm not installed, weights
                that do not match the architecture, or a layer name that is not there.
        """
        base = Path(".")
        if isinstance(config, str | Path):
            path = Path(config)
            try:
                data = json.loads(path.read_text("utf-8"))
            except FileNotFoundError:
                raise ModelError(f"{path}: no such classifier config") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ModelError(f"{path}: not a JSON classifier config ({exc})") from None
            if not isinstance(data, dict):
                raise ModelError(f"{path}: a classifier config is a JSON object")
            config, base = ClassifierConfig.from_dict(data), path.parent
        elif isinstance(config, dict):
            config = ClassifierConfig.from_dict(config)
        return _build(config, base)

    @property
    def device(self) -> torch.device:
        param = next(self.model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def prepare(self, image: np.ndarray, size: int | None = None, *, crop: bool = False) -> Tensor:
        """``(H,W,3)`` uint8 RGB -> ``(1,3,h,w)`` normalised tensor on the model's device.

        Without ``crop`` the whole image is kept, resized so its short side is ``size``
        (aspect kept), so a CAM covers all of it. With ``crop``: ImageNet's evaluation
        recipe, short side ``size / 0.875`` then the central ``size`` x ``size`` square
        (what the reference accuracies are measured with). ``size`` defaults to the
        classifier's own.
        """
        size = size or self.size
        x = image_tensor(image, self.device)
        if crop:
            x = resize_short_side(x, round(size / CROP_FRACTION))
            top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
            x = x[..., top:top + size, left:left + size]
        else:
            x = resize_short_side(x, size)
        return self.normalise(x)

    def normalise(self, x: Tensor) -> Tensor:
        """``(B,3,H,W)`` in [0, 1] -> the model's input scale."""
        mean = x.new_tensor(self.mean).view(1, -1, 1, 1)
        std = x.new_tensor(self.std).view(1, -1, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def predict(self, image: np.ndarray, size: int | None = None, *, crop: bool = True
                ) -> np.ndarray:
        """Class probabilities ``(N,)`` float32 for an ``(H,W,3)`` uint8 RGB image.

        ``crop`` (default) classifies the central square as in ImageNet evaluation, where
        coffee gives espresso at 0.95; ``crop=False`` sees the whole image (what CAMs see).
        """
        logits = self.model(self.prepare(image, size, crop=crop))
        return logits.float().softmax(dim=1)[0].cpu().numpy()

    def top(self, image: np.ndarray, k: int = 5) -> list[tuple[int, str, float]]:
        """The k most probable classes as ``(index, name, probability)``, best first."""
        probs = self.predict(image)
        order = np.argsort(-probs)[:k]
        return [(int(i), self.names[i], float(probs[i])) for i in order]

    def target(self, spec: str | int) -> int:
        """A class index from a name or index (see :func:`resolve_target`)."""
        return resolve_target(spec, self.names)


def image_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """``(H,W,3)`` uint8 RGB array -> ``(1,3,H,W)`` float32 in [0, 1]; the array is not changed."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else \
            type(image).__name__
        raise ValueError(f"expected an (H, W, 3) uint8 RGB array, got {got}")
    x = torch.from_numpy(np.ascontiguousarray(image)).to(device)
    return x.permute(2, 0, 1)[None].float().div(255)  # float() copies: the input stays intact


def resize_short_side(x: Tensor, size: int) -> Tensor:
    """``(B,C,H,W)`` resized (bilinear, antialiased) so that min(H, W) == size, aspect kept."""
    height, width = x.shape[-2:]
    scale = size / min(height, width)
    shape = (max(1, round(height * scale)), max(1, round(width * scale)))
    if shape == (height, width):
        return x
    return F.interpolate(x, size=shape, mode="bilinear", align_corners=False,
                         antialias=scale < 1).clamp(0, 1)


# --------------------------------------------------------------------------- from_config


def _build(config: ClassifierConfig, base: Path) -> Classifier:
    checkpoint = _local(config.checkpoint, base)
    if checkpoint.suffix != ".safetensors":
        raise ModelError(f"{checkpoint}: classifier weights must be a .safetensors file "
                         "(pickles are never loaded)")
    if not checkpoint.is_file():
        raise ModelError(f"{checkpoint}: no such checkpoint")
    from safetensors.torch import load_file

    state = load_file(str(checkpoint), device="cpu")
    lite = config.arch == "efficientnet_lite0"
    head_name = config.head or ("_fc" if lite else None)
    feature_name = config.feature_layer or ("head_act" if lite else None)
    if feature_name is None:
        raise ModelError(f"classifier config: 'feature_layer' is required for {config.arch}")
    outputs = None
    if head_name and f"{head_name}.weight" in state:
        outputs = int(state[f"{head_name}.weight"].shape[0])
    names = _class_names(config.classes, base, outputs)

    model = _architecture(config, len(names))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelError(f"{checkpoint}: weights do not match {config.arch}: "
                         f"{' '.join(line.strip() for line in first[:3])}") from None
    head = _submodule(model, head_name, config) if head_name else None
    features = _submodule(model, feature_name, config)
    default_mean, default_std = (LITE_MEAN, LITE_STD) if lite else (IMAGENET_MEAN, IMAGENET_STD)
    return Classifier(model, names, features_layer=features, head=head,  # type: ignore[arg-type]
                      mean=config.mean or default_mean, std=config.std or default_std,
                      size=config.size)


def _local(path: str, base: Path) -> Path:
    if "://" in path:
        raise ModelError(f"{path}: only local files are loaded")
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _class_names(classes: str | None, base: Path, outputs: int | None) -> list[str]:
    if classes == "imagenet":
        return imagenet_classes()
    if classes is None:
        if outputs is None:
            raise ModelError("classifier config: give 'classes' (a names file) or 'head'")
        return [f"class {i}" for i in range(outputs)]
    path = _local(classes, base)
    try:
        names = [line.strip() for line in path.read_text("utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        raise ModelError(f"{path}: no such class names file") from None
    if outputs is not None and len(names) != outputs:
        raise ModelError(f"{path}: {len(names)} class names for a head with {outputs} outputs")
    return names


def _architecture(config: ClassifierConfig, num_classes: int) -> nn.Module:
    arch = config.arch
    if arch == "efficientnet_lite0":
        return EfficientNetLite0(num_classes, **config.arch_args)
    if arch.startswith("timm:"):
        try:
            import timm
        except ImportError:
            raise ModelError(f"arch {arch!r} needs timm, which is not installed: "
                             "pip install timm") from None
        try:  # pretrained=False: weights come from the local checkpoint only
            return timm.create_model(arch[5:], pretrained=False, num_classes=num_classes,
                                     **config.arch_args)
        except RuntimeError as exc:
            raise ModelError(f"timm cannot build {arch[5:]!r}: {exc}") from None
    if ":" in arch:
        module_name, _, attr = arch.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ModelError(f"arch {arch!r}: cannot import it ({exc})") from None
        model = factory(**config.arch_args)
        if not isinstance(model, nn.Module):
            raise ModelError(f"arch {arch!r} returned {type(model).__name__}, not an nn.Module")
        return model
    raise ModelError(f"unknown arch {arch!r}; use efficientnet_lite0, timm:<name> or "
                     "module:callable")


def _submodule(model: nn.Module, name: str, config: ClassifierConfig) -> nn.Module:
    try:
        return model.get_submodule(name)
    except AttributeError:
        children = [n for n, _ in model.named_children()]
        raise ModelError(f"{config.arch} has no layer {name!r}; its top-level layers are "
                         f"{', '.join(children[:12])}") from None
