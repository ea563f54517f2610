"""Quality inside masks: PSNR, SSIM (scikit-image) and KID on classifier features.

Images are ``(H, W, 3)`` uint8 RGB, masks ``(H, W)`` bool. Only pixels inside the mask
count: restoration never changes the rest, so it would only dilute the differences.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from .geometry import mask_boxes

MAX_PSNR = 100.0  # identical regions


def masked_psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over the pixels (all channels) inside ``mask``; data range 255."""
    diff = pred[mask].astype(np.float64) - target[mask].astype(np.float64)
    mse = float(np.mean(diff ** 2)) if diff.size else 0.0
    return MAX_PSNR if mse == 0 else min(MAX_PSNR, 10 * np.log10(255.0 ** 2 / mse))


def masked_ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Mean of scikit-image's SSIM map (7x7 windows, per channel) over the mask's pixels.

    The map is computed on the mask's bounding box grown by the window radius, so the
    windows around edge pixels see their real neighbours.
    """
    if not mask.any():
        return 1.0
    x, y, w, h = (int(v) for v in _bbox(mask))
    r = 3
    y0, x0 = max(0, y - r), max(0, x - r)
    y1, x1 = min(mask.shape[0], y + h + r), min(mask.shape[1], x + w + r)
    a, b, m = pred[y0:y1, x0:x1], target[y0:y1, x0:x1], mask[y0:y1, x0:x1]
    if min(a.shape[:2]) < 7:
        return float(np.mean(1 - np.abs(a.astype(float) - b.astype(float))[m] / 255))
    _, smap = structural_similarity(a, b, channel_axis=2, data_range=255, full=True)
    return float(smap.mean(axis=2)[m].mean())


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def kid(features_x: np.ndarray, features_y: np.ndarray) -> float | None:
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 between two
    sets of features ``(N, D)`` with the kernel k(a, b) = (a.b / D + 1)^3.

    None when either set has fewer than 2 items. Here the features are EfficientNet-Lite0's
    (a proxy: the original KID uses Inception-v3, whose weights are not shipped offline).
    """
    n, m = len(features_x), len(features_y)
    if n < 2 or m < 2:
        return None
    x, y = features_x.astype(np.float64), features_y.astype(np.float64)
    d = x.shape[1]
    kxx, kyy, kxy = ((x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3)
    sxx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


def region_crops(image: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    """The bounding-box crop of each connected region of ``mask``."""
    return [image[y:y + h, x:x + w] for x, y, w, h in mask_boxes(mask)]


def _default_classifier(classifier=None):
    if classifier is None:
        from .regions.classifier import Classifier

        classifier = Classifier.default()
    return classifier


def crop_features(crops: list[np.ndarray], classifier=None, size: int = 224) -> np.ndarray:
    """``(N, 1280)`` pooled EfficientNet-Lite0 features of image crops (resized to size^2)."""
    import cv2
    import torch

    classifier = _default_classifier(classifier)
    if not crops:
        return np.zeros((0, 1280), np.float32)
    batch = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA
                                 if min(c.shape[:2]) > size else cv2.INTER_CUBIC) for c in crops])
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float().div(255)
    feats = []
    with torch.no_grad(), classifier.lock:
        for part in x.split(16):
            f = classifier.model.features(classifier.normalise(part.to(classifier.device)))
            feats.append(f.mean(dim=(2, 3)).cpu())
    return torch.cat(feats).numpy()


# EfficientNet-Lite0's blocks that end a stage at 1/2, 1/4, 1/8, 1/16 and 1/32 of the
# input: five levels of detail, as LPIPS takes five layers of its network.
DISTANCE_BLOCKS = (0, 2, 4, 10, 14)
MIN_DISTANCE_SIDE = 32  # smaller crops are enlarged to this (the deepest level is 1/32)


def distance_features(crops: list[np.ndarray], classifier=None) -> list[list]:
    """What :func:`feature_distances` compares, per crop: EfficientNet-Lite0's features at
    each of :data:`DISTANCE_BLOCKS`, at the crop's own resolution (a crop shorter than
    :data:`MIN_DISTANCE_SIDE` enlarged to it), unit-normalised across channels. Computed
    once for crops compared many times (eval's originals, against every method)."""
    import cv2
    import torch

    classifier = _default_classifier(classifier)
    net = classifier.model
    out = []
    with torch.no_grad(), classifier.lock:
        for crop in crops:
            short = min(crop.shape[:2])
            if short < MIN_DISTANCE_SIDE:
                scale = MIN_DISTANCE_SIDE / short
                crop = cv2.resize(crop, (round(crop.shape[1] * scale),
                                         round(crop.shape[0] * scale)),
                                  interpolation=cv2.INTER_CUBIC)
            x = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None].float()
            x = classifier.normalise(x.div(255).to(classifier.device))
            x = torch.nn.functional.relu6(net._bn0(net._conv_stem(x)))
            levels = []
            for i, block in enumerate(net._blocks[:max(DISTANCE_BLOCKS) + 1]):
                x = block(x)
                if i in DISTANCE_BLOCKS:
                    levels.append(x[0] / (x[0].norm(dim=0, keepdim=True) + 1e-10))
            out.append(levels)
    return out


def feature_distances(preds: list[np.ndarray], targets: list[np.ndarray] | list[list],
                      classifier=None) -> np.ndarray:
    """``(N,)``: for each pair of crops (of one size each), an LPIPS-like distance (Zhang
    et al. 2018) on EfficientNet-Lite0 at the crops' own resolution: at each of
    :data:`DISTANCE_BLOCKS`, the features unit-normalised across channels, their squared
    difference summed over channels and averaged over positions; the five levels summed.
    Lower is closer. ``targets``: crops, or their :func:`distance_features`.

    Uncalibrated: LPIPS weighs each channel by weights learned from human judgements of
    similarity; none are available offline, so every channel weighs 1 here (LPIPS's
    "baseline" form) and the values are not comparable to LPIPS's.
    """
    if len(preds) != len(targets):
        raise ValueError(f"{len(preds)} crops against {len(targets)} targets")
    if targets and isinstance(targets[0], np.ndarray):
        targets = distance_features(targets, classifier)
    out = np.zeros(len(preds), np.float64)
    for n, (pred, target) in enumerate(zip(distance_features(preds, classifier), targets,
                                           strict=True)):
        for a, b in zip(pred, target, strict=True):
            if a.shape != b.shape:
                raise ValueError(f"crop {n}: features {tuple(a.shape)} against "
                                 f"{tuple(b.shape)}: the crops differ in size")
            out[n] += float(((a - b) ** 2).sum(dim=0).mean())
    return out


# A restoration whose spectrum peaks at the mosaic's cell frequency and its harmonics more
# than this times the clean photo's draws a periodic pattern (hatching, block edges).
CELL_ENERGY_LIMIT = 1.2


def cell_frequency_energy(image: np.ndarray, mask: np.ndarray, block: int) -> float | None:
    """How much the spectrum of the mask's bounding box peaks at the cell frequency
    1/``block`` and its harmonics (n/``block`` up to the Nyquist frequency), along either
    axis: the energy on those lines of the spectrum over the energy on the lines two and
    three bins away. A pattern repeating every cell (a hatching, a block edge drawn in
    every cell) raises it; a photo's smooth spectrum, noise and a mosaic (whose spectrum
    is zero at the exact harmonics) do not. Grey levels, mean removed, a Hann window
    against the crop's edges. None when the box holds fewer than four cells a side."""
    if not mask.any():
        return None
    x, y, w, h = _bbox(mask)
    w, h = w - w % block, h - h % block  # whole periods: the harmonics fall on bins
    if min(w, h) < 4 * block:
        return None
    grey = image[y:y + h, x:x + w].astype(np.float64).mean(axis=2)
    grey -= grey.mean()
    grey *= np.outer(np.hanning(h), np.hanning(w))
    power = np.abs(np.fft.fft2(grey)) ** 2
    power[0, 0] = 0.0
    peak = side = 0.0
    for lines, size in ((power.sum(axis=0), w), (power.sum(axis=1), h)):
        for n in range(1, block // 2 + 1):
            k = n * size // block
            peak += lines[k]
            near = [lines[j % size] for j in (k - 3, k - 2, k + 2, k + 3) if j % size > 0]
            side += float(np.mean(near))
    return float(peak / side) if side > 0 else None
