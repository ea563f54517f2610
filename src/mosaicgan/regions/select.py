"""From a heatmap (a CAM) to regions: threshold, connected components, keep the strongest."""

from __future__ import annotations

import cv2
import numpy as np

from .base import Regions


def regions_from_heatmap(heatmap: np.ndarray, *, threshold: float = 0.5, relative: bool = True,
                         top_k: int | None = 1, margin: int = 0, min_area: float = 0.005,
                         min_score: float | None = None, probability: float | None = None,
                         label: str = "", rank: str = "mass") -> Regions:
    """Regions where ``heatmap`` is hot.

    Zhou et al. (2016) localise with a box around the largest component above 20% of the
    CAM's peak; here the default keeps more conservative 50%, so regions hug the object.

    Args:
        heatmap: ``(H, W)`` float, e.g. a :class:`~mosaicgan.regions.cam.CamResult` heatmap.
        threshold: pixels at or above it are hot; a fraction of the map's peak when
            ``relative`` (default), else an absolute heat value.
        top_k: keep the k strongest components (None: all).
        margin: grow each kept component by this many pixels (a disc dilation).
        min_area: drop components smaller than this fraction of the image (before margin).
        min_score: with ``probability`` (the class probability): below it, no region.
        probability: the class probability, reported with each region.
        label: each region's label (the class name).
        rank: ``"mass"`` (sum of heat, default: a large warm blob beats a tiny hot spot)
            or ``"peak"`` (hottest pixel).

    Returns:
        :class:`Regions`: mask = union of the kept (dilated) components; per region the
        box, score = its peak heat, label, and extras ``area`` (pixels), ``peak``,
        ``mass`` (share of the map's total heat) and ``probability``.
    """
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be (H, W), got shape {heat.shape}")
    if not np.isfinite(heat).all():
        raise ValueError("heatmap has NaN or infinite values")
    if rank not in ("mass", "peak"):
        raise ValueError(f"rank must be 'mass' or 'peak', got {rank!r}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1 (or None for all), got {top_k}")
    if margin < 0:
        raise ValueError(f"margin must be >= 0 pixels, got {margin}")
    height, width = heat.shape
    empty = Regions.empty(height, width)
    if min_score is not None:
        if probability is None:
            raise ValueError("min_score needs the class probability")
        if probability < min_score:
            return empty
    peak = float(heat.max()) if heat.size else 0.0
    if peak <= 0:
        return empty
    level = threshold * peak if relative else threshold
    hot = (heat >= level) & (heat > 0)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(hot.astype(np.uint8),
                                                               connectivity=8)
    total = float(heat[heat > 0].sum())
    candidates = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < min_area * height * width:
            continue
        values = heat[labels == i]
        candidates.append((i, float(values.max()), float(values.sum())))
    candidates.sort(key=(lambda c: (-c[2], -c[1])) if rank == "mass" else
                    (lambda c: (-c[1], -c[2])))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1, 2 * margin + 1))
    mask = np.zeros((height, width), bool)
    boxes, scores, extras = [], [], []
    for i, region_peak, mass in candidates[:top_k]:
        region = (labels == i).astype(np.uint8)
        if margin:
            region = cv2.dilate(region, kernel)
        x, y, w, h = cv2.boundingRect(region)
        mask |= region.astype(bool)
        boxes.append((int(x), int(y), int(w), int(h)))
        scores.append(region_peak)
        extra = {"area": int(region.sum()), "peak": region_peak, "mass": mass / total}
        if probability is not None:
            extra["probability"] = float(probability)
        extras.append(extra)
    return Regions(mask, boxes, scores, [label] * len(boxes), extras)
