"""The common result of CAMs and detectors: a mask plus one box, score and label per region.

Mosaicking only reads :class:`Regions`, so it never cares whether the regions came from a
classifier's activation map, a face detector or a user's box. Boxes are ``(x, y, w, h)``
in pixels, like everywhere else in mosaicgan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InputError
from ..geometry import Box


class UnknownNameError(InputError, ValueError):
    """An unknown or ambiguous name (a class, a CAM method); the message is one line.

    A ValueError too, so callers that only know the standard library can catch it.
    """

    def __init__(self, problem: str):
        super().__init__(None, problem)


@dataclass
class Regions:
    """Where to act in one image.

    Attributes:
        mask: ``(H, W)`` bool, the union of all regions (what gets mosaicked).
        boxes: ``(x, y, w, h)`` bounding box of each region.
        scores: one confidence per region (detector score, or peak heat of a CAM).
        labels: one label per region (class name, or the detector's label).
        extras: one dict per region of anything else worth reporting (``area`` in pixels,
            ``peak``, ``probability``, ...); it is merged into :meth:`to_json`.
    """

    mask: np.ndarray
    boxes: list[Box] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    extras: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mask.ndim != 2 or self.mask.dtype != bool:
            raise ValueError(f"Regions.mask must be (H, W) bool, got {self.mask.shape} "
                             f"{self.mask.dtype}")
        if not self.extras:
            self.extras = [{} for _ in self.boxes]
        counts = {len(self.boxes), len(self.scores), len(self.labels), len(self.extras)}
        if len(counts) != 1:
            raise ValueError(f"Regions needs one box, score, label and extras per region, got "
                             f"{len(self.boxes)}, {len(self.scores)}, {len(self.labels)}, "
                             f"{len(self.extras)}")

    @classmethod
    def empty(cls, height: int, width: int) -> Regions:
        """No region in a ``height`` x ``width`` image."""
        return cls(np.zeros((height, width), bool))

    def __len__(self) -> int:
        return len(self.boxes)

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image the regions belong to."""
        return self.mask.shape[0], self.mask.shape[1]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary: image size, covered fraction, and one dict per region.

        Each region is ``{"box": [x, y, w, h], "area": pixels, "score", "label", **extras}``;
        ``area`` is the region's pixel count when its producer reported one, else box area.
        """
        height, width = self.shape
        regions = []
        for box, score, label, extra in zip(self.boxes, self.scores, self.labels, self.extras,
                                            strict=True):
            item: dict[str, Any] = {"box": [int(v) for v in box],
                                    "area": int(extra.get("area", box[2] * box[3])),
                                    "score": round(float(score), 4), "label": label}
            item.update({k: _plain(v) for k, v in extra.items() if k != "area"})
            regions.append(item)
        return {"width": width, "height": height,
                "coverage": round(float(self.mask.mean()) if self.mask.size else 0.0, 4),
                "regions": regions}


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (json cannot write them); floats rounded for reading."""
    if isinstance(value, np.generic):
        value = value.item()
    return round(value, 4) if isinstance(value, float) else value


def boxes_mask(height: int, width: int, boxes: list[Box]) -> np.ndarray:
    """``(H, W)`` bool union of boxes, each clipped to the image."""
    mask = np.zeros((height, width), bool)
    for x, y, w, h in boxes:
        x0, y0 = max(0, x), max(0, y)
        mask[y0:max(y0, y + h), x0:max(x0, x + w)] = True
    return mask
