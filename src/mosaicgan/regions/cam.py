"""Class Activation Maps: where a classifier that only knows image labels sees a class.

CAM (Zhou et al. 2016, "Learning Deep Features for Discriminative Localization", eq. 2):
for a network ending in global average pooling and a linear layer, the map for class c is
``M_c = sum_k w[c, k] * F_k`` over the last feature maps ``F`` (B, K, h, w), with ``w`` the
linear layer's weights. No gradients are needed.

Grad-CAM (Selvaraju et al. 2017, eq. 1-2): ``alpha_k = mean_{h,w} d y_c / d F_k`` and
``M_c = ReLU(sum_k alpha_k F_k)``; it works for any head. For a pooling + linear head
``d y_c / d F_k = w[c, k] / (h w)``, so the two maps are proportional.

Shape after pytorch-grad-cam: :class:`BaseCAM` owns the hook on the feature layer, the
forward pass, the ReLU, upsampling and normalising (all in torch); a method overrides only
:meth:`BaseCAM.channel_weights`. Use it as a context manager so the hook is removed::

    with GradCAM(model, model.layer4, model.fc) as cam:
        out = cam(x, targets=281)          # x (B,3,H,W) -> out.maps (B,H,W) in [0, 1]

For an image array, :func:`class_activation_map` does it all with the offline classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from .base import Regions, UnknownNameError
from .classifier import Classifier, image_tensor, resize_short_side
from .select import regions_from_heatmap

Targets = int | Sequence[int | None] | None

# One scale by default: 224 is the resolution the classifier was trained at, and the CAM
# (a 7x7 grid on a square photo, upsampled) already covers objects well. Multi-scale
# (224, 320, 448) gives finer outlines at about 4x the time; see benchmarks/cam_speed.py.
DEFAULT_SCALES: tuple[int, ...] = (224,)
MULTI_SCALES: tuple[int, ...] = (224, 320, 448)


@dataclass
class CamOutput:
    """What a CAM object returns for a batch.

    Attributes:
        maps: ``(B, H, W)`` float32 in [0, 1]; 1 at each map's peak, 0 where the feature
            evidence for the class is nil or negative (after the ReLU).
        class_index: ``(B,)`` long, the class each map explains.
        probability: ``(B,)`` float, the softmax probability of that class.
        logits: ``(B, N)``, the model's output.
    """

    maps: Tensor
    class_index: Tensor
    probability: Tensor
    logits: Tensor


class BaseCAM:
    """Hooks a feature layer, runs the model, weighs the feature maps, normalises the map.

    Args:
        model: ``(B,3,H,W) -> (B,N)`` logits. It runs in eval mode during a call (its own
            mode is restored afterwards, so BatchNorm statistics never change).
        feature_layer: a module of ``model`` whose output is ``(B,K,h,w)`` feature maps.
        head: the final ``nn.Linear`` ``(N,K)`` after global pooling, if there is one.

    Subclasses override :meth:`channel_weights`; ``uses_gradients`` says whether it needs
    ``d score / d features`` (computed with ``torch.autograd.grad``, so no ``.grad`` is
    left on the model's parameters).
    """

    uses_gradients = False

    def __init__(self, model: nn.Module, feature_layer: nn.Module, head: nn.Linear | None = None):
        self.model = model
        self.feature_layer = feature_layer
        self.head = head
        self._activations: Tensor | None = None
        self._handles = [feature_layer.register_forward_hook(self._keep_activations)]

    # -- hooks

    def _keep_activations(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self._activations = output

    def release(self) -> None:
        """Remove the hooks; the object cannot be used afterwards."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._activations = None

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()  # returns None: an exception raised inside the block propagates

    def __del__(self) -> None:
        if getattr(self, "_handles", None):
            self.release()

    # -- the method

    def channel_weights(self, activations: Tensor, gradients: Tensor | None,
                        targets: Tensor) -> Tensor:
        """Weight of each feature map: activations ``(B,K,h,w)``, gradients ``(B,K,h,w)``
        (None when ``uses_gradients`` is False), targets ``(B,)`` -> ``(B,K)``."""
        raise NotImplementedError

    # -- running

    def __call__(self, x: Tensor, targets: Targets = None,
                 size: tuple[int, int] | None = None) -> CamOutput:
        """Maps for a batch.

        Args:
            x: ``(B,3,H,W)`` model input (already normalised for the model); not modified.
            targets: a class index for every image, one per image (None = that image's
                top class), or None for the top class of each image.
            size: ``(H', W')`` of the maps; default the input's ``(H, W)``.

        Returns:
            :class:`CamOutput` with ``maps`` ``(B,H',W')`` in [0, 1].
        """
        if not self._handles:
            raise RuntimeError(f"{type(self).__name__} was released; build a new one")
        if x.ndim != 4:
            raise ValueError(f"expected a (B, C, H, W) input, got shape {tuple(x.shape)}")
        raw, index, probability, logits = self.raw_maps(x, targets)
        maps = normalise_maps(raw, size or (x.shape[-2], x.shape[-1]))
        return CamOutput(maps, index, probability, logits)

    def raw_maps(self, x: Tensor, targets: Targets = None
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Unnormalised maps ``(B,h,w)`` at feature resolution (before the ReLU), with the
        target indices ``(B,)``, their probabilities ``(B,)`` and the logits ``(B,N)``."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.set_grad_enabled(self.uses_gradients):
                # A leaf that needs gradients keeps a graph even when the model is frozen.
                inp = x.detach().requires_grad_(self.uses_gradients)
                self._activations = None
                logits = self.model(inp)
                acts = self._activations
                if not isinstance(acts, Tensor) or acts.ndim != 4:
                    got = "nothing" if acts is None else (
                        f"shape {tuple(acts.shape)}" if isinstance(acts, Tensor)
                        else type(acts).__name__)
                    raise ValueError(f"the feature layer must output (B, K, h, w) maps; "
                                     f"it gave {got}")
                if logits.ndim != 2:
                    raise ValueError(f"the model must output (B, N) logits, got shape "
                                     f"{tuple(logits.shape)}")
                index = target_indices(targets, logits)
                grads = None
                if self.uses_gradients:
                    # Images are independent, so d(sum of scores)/dF gives each one's own.
                    score = logits.gather(1, index[:, None]).sum()
                    grads = torch.autograd.grad(score, acts)[0]
                weights = self.channel_weights(acts.detach(), grads, index)
                raw = torch.einsum("bk,bkhw->bhw", weights.float(), acts.detach().float())
        finally:
            self._activations = None  # do not keep the batch alive between calls
            self.model.train(was_training)
        probability = logits.detach().float().softmax(dim=1).gather(1, index[:, None])[:, 0]
        return raw, index, probability, logits.detach()


class CAM(BaseCAM):
    """Class Activation Map: the head's weights for the class. Needs a pooling + linear head."""

    def __init__(self, model: nn.Module, feature_layer: nn.Module, head: nn.Linear | None = None):
        if not isinstance(head, nn.Linear):
            raise ModelError("CAM needs the model's final nn.Linear after global pooling; "
                             "for other heads use Grad-CAM ('gradcam')")
        super().__init__(model, feature_layer, head)

    def channel_weights(self, activations: Tensor, gradients: Tensor | None,
                        targets: Tensor) -> Tensor:
        weight = self.head.weight.detach()  # type: ignore[union-attr]
        if weight.shape[1] != activations.shape[1]:
            raise ModelError(f"the head takes {weight.shape[1]} features but the feature "
                             f"layer gives {activations.shape[1]} channels")
        return weight[targets].to(activations.device)  # w[c, k]: (B, K)


class GradCAM(BaseCAM):
    """Grad-CAM: each channel weighed by the spatial mean of the class score's gradient."""

    uses_gradients = True

    def channel_weights(self, activations: Tensor, gradients: Tensor | None,
                        targets: Tensor) -> Tensor:
        assert gradients is not None  # uses_gradients guarantees it
        return gradients.mean(dim=(2, 3))  # alpha_k = 1/(hw) sum_ij dy_c/dF_k,ij


CAM_METHODS: dict[str, type[BaseCAM]] = {"cam": CAM, "gradcam": GradCAM}


def cam_method(name: str) -> type[BaseCAM]:
    """The CAM class registered as ``name``; UnknownNameError (a ValueError) lists choices."""
    try:
        return CAM_METHODS[name.lower()]
    except (KeyError, AttributeError):
        raise UnknownNameError(f"unknown CAM method {name!r}; choose from "
                               f"{', '.join(CAM_METHODS)}") from None


def target_indices(targets: Targets, logits: Tensor) -> Tensor:
    """``(B,)`` long class indices: given ones, or the top class where None."""
    batch, classes = logits.shape
    top = logits.detach().argmax(dim=1)
    if targets is None:
        return top
    if isinstance(targets, int | np.integer):
        targets = [int(targets)] * batch
    if len(targets) != batch:
        raise ValueError(f"{len(targets)} targets for a batch of {batch}")
    index = torch.tensor([int(top[i]) if t is None else int(t) for i, t in enumerate(targets)],
                         device=logits.device)
    bad = [int(i) for i in index if not 0 <= i < classes]
    if bad:
        raise ValueError(f"class index {bad[0]} out of range 0-{classes - 1}")
    return index


def normalise_maps(raw: Tensor, size: tuple[int, int]) -> Tensor:
    """``(B,h,w)`` raw maps -> ReLU -> bilinear to ``size`` -> divided by each map's peak.

    Returns ``(B,H,W)`` float32 in [0, 1]; an all-negative map becomes all zeros.
    """
    maps = F.interpolate(raw.float().clamp(min=0)[:, None], size=size, mode="bilinear",
                         align_corners=False)[:, 0]
    peak = maps.flatten(1).amax(dim=1).view(-1, 1, 1)
    return torch.where(peak > 0, maps / peak.clamp(min=1e-12), torch.zeros_like(maps))


# --------------------------------------------------------------------------- images


@dataclass
class CamResult:
    """The CAM of one image.

    Attributes:
        heatmap: ``(H, W)`` float32 in [0, 1], the image's size; 1 at the peak.
        class_index, class_name: the class explained.
        probability: the classifier's softmax probability for that class on the whole
            image (not the centre crop of :meth:`Classifier.predict`), averaged over scales.
        method: the CAM method's name; scales: the input short sides used.
    """

    heatmap: np.ndarray
    class_index: int
    class_name: str
    probability: float
    method: str = "cam"
    scales: tuple[int, ...] = DEFAULT_SCALES

    def regions(self, **options: Any) -> Regions:
        """Threshold the heatmap into regions; ``options`` go to
        :func:`~mosaicgan.regions.select.regions_from_heatmap`."""
        return regions_from_heatmap(self.heatmap, label=self.class_name,
                                    probability=self.probability, **options)

    def to_json(self) -> dict[str, Any]:
        return {"class_index": self.class_index, "class_name": self.class_name,
                "probability": round(self.probability, 4), "method": self.method,
                "scales": list(self.scales)}


def class_activation_map(image: np.ndarray, classifier: Classifier | None = None, *,
                         method: str = "cam", target: str | int | None = None,
                         scales: Sequence[int] = DEFAULT_SCALES) -> CamResult:
    """The class activation map of one image.

    Args:
        image: ``(H, W, 3)`` uint8 RGB; not modified.
        classifier: default: the offline EfficientNet-Lite0 (:meth:`Classifier.default`).
        method: a key of :data:`CAM_METHODS` (``"cam"``, ``"gradcam"``).
        target: a class index, a class name (see
            :func:`~mosaicgan.regions.classifier.resolve_target`), or None / ``"auto"``
            for the top class at the first scale.
        scales: short sides the whole image is resized to (aspect kept, no crop); the
            maps of all scales are upsampled to the image and averaged.

    Returns:
        :class:`CamResult` with an ``(H, W)`` heatmap.

    Example:
        >>> import skimage.data
        >>> result = class_activation_map(skimage.data.coffee(), target="espresso")
        >>> result.heatmap.shape, result.class_name
        ((400, 600), 'espresso')
    """
    classifier = classifier or Classifier.default()
    cam_class = cam_method(method)
    if not scales or any(int(s) < 32 for s in scales):
        raise ValueError(f"scales must be short sides of at least 32 px, got {list(scales)}")
    index = None if target is None or target == "auto" else classifier.target(target)
    height, width = image.shape[:2]
    pixels = image_tensor(image, classifier.device)  # checks the array
    total: Tensor | None = None
    probabilities = []
    # The lock: a hook sees every forward pass of the shared model, other threads' too.
    with classifier.lock, cam_class(classifier.model, classifier.features_layer,
                                    classifier.head) as cam:
        for scale in scales:
            x = classifier.normalise(resize_short_side(pixels, int(scale)))
            out = cam(x, index, size=(height, width))
            index = int(out.class_index[0])  # later scales explain the first scale's class
            probabilities.append(float(out.probability[0]))
            total = out.maps if total is None else total + out.maps
    assert total is not None and index is not None
    peak = float(total.max())
    heatmap = (total[0] / peak if peak > 0 else total[0]).cpu().numpy().astype(np.float32)
    return CamResult(heatmap, index, classifier.names[index], float(np.mean(probabilities)),
                     method.lower(), tuple(int(s) for s in scales))
