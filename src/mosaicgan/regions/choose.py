"""Where a job acts: the regions a :class:`~mosaicgan.options.RegionSpec` chooses in an
image (random, CAM, faces, nudity), or those a box or a mask gives, checked once here for
images and videos alike."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ArgumentError
from ..geometry import Box, clip_box, mask_boxes
from ..options import FACE_MARGIN, NUDITY_MARGIN, RegionSpec
from .base import Regions
from .detectors import find_faces, find_nudity
from .masks import box_mask, random_region

if TYPE_CHECKING:
    from .cam import CamResult
    from .classifier import Classifier


def find_regions(image: np.ndarray, spec: RegionSpec, *, rng: np.random.Generator | None = None,
                 classifier: Classifier | None = None) -> Regions:
    """The regions of an (H, W, 3) uint8 image chosen by ``spec``, as a Regions object
    (mask, boxes, scores, labels) whatever produced them."""
    height, width = image.shape[:2]
    if spec.where == "random":
        shape, box, mask = random_region(rng or np.random.default_rng(), height, width)
        return Regions(mask, [box], [1.0], [shape])
    if spec.where == "cam":
        return cam_regions(image, spec, classifier)[1]
    if spec.where == "face":
        margin = FACE_MARGIN if spec.margin is None else spec.margin
        return find_faces(image, margin, spec.shape)
    margin = NUDITY_MARGIN if spec.margin is None else spec.margin
    return find_nudity(image, margin, spec.shape)


def cam_regions(image: np.ndarray, spec: RegionSpec, classifier: Classifier | None = None
                ) -> tuple[CamResult, Regions]:
    """The classifier's activation map for ``spec.target`` and the regions it gives."""
    from .cam import class_activation_map  # torch: imported only when a CAM is asked for

    cam = class_activation_map(image, classifier or load_classifier(spec.classifier),
                               method=spec.method, target=spec.target, scales=spec.scales)
    margin = round((spec.margin or 0.0) * max(image.shape[:2]))
    return cam, cam.regions(threshold=spec.threshold, min_score=spec.min_score,
                            top_k=spec.top_k, margin=margin)


@functools.cache
def load_classifier(config: str | None = None) -> Classifier:
    """The CAM classifier: a user's (from its config JSON) or the offline default; loaded once."""
    from .classifier import Classifier  # torch, as above

    return Classifier.default() if config is None else Classifier.from_config(config)


def check_one_source(box: Box | None, mask: str | Path | np.ndarray | None,
                     where: RegionSpec | None) -> None:
    """A job acts on exactly one of a box, a mask or regions it finds."""
    if sum(v is not None for v in (box, mask, where)) != 1:
        raise ArgumentError("give exactly one of --box, --mask or --where")


def given_regions(shape: tuple[int, ...], *, box: Box | None = None,
                  mask: np.ndarray | None = None, what: str = "image") -> Regions:
    """Regions from a box or a mask, checked against the size of an image (or a video:
    ``what`` names it in the messages)."""
    height, width = shape[:2]
    if box is not None:
        clipped = clip_box(box, width, height)
        if 0 in clipped[2:]:
            raise ValueError(f"box {box} lies outside the {width}x{height} {what}")
        return Regions(box_mask(height, width, box), [clipped], [1.0], ["box"])
    if mask is None:
        raise ValueError("give a box or a mask")
    if mask.shape != (height, width):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]}, the {what} is "
                         f"{width}x{height}")
    boxes = mask_boxes(mask)
    return Regions(mask.astype(bool), boxes, [1.0] * len(boxes), ["mask"] * len(boxes))
