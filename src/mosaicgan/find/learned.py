"""The learned mosaic finder: where an image is mosaiced, from a small segmentation network.

The grid model (:mod:`mosaicgan.find.search`) was tuned by hand on one set of photos and
carries less well to the next (regular structure in cities, damaged mosaics). This
finder is :class:`mosaicgan.nets.mosaicseg.MosaicSeg` trained on unlimited synthetic
mosaics the project makes and damages itself (:mod:`mosaicgan.data.finder`, recipe in
``scripts/train_finder.py``); its weights ship in the package (``weights/finder.*``).
It says where; the grid model says how (pitch, phase, cells): see
:mod:`mosaicgan.find.combined`.

Large images are looked at in overlapping tiles, so memory stays bounded. The network runs
on the fastest path this machine measures (:mod:`mosaicgan.fastpath`: contiguous or
channels-last, fp32 or bf16 where the CPU has it natively), among those whose
probabilities stay within :data:`TOLERANCE` of plain fp32's on a real photo;
``mosaicgan doctor`` shows the choice.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from ..errors import InputError

if TYPE_CHECKING:
    import torch

    from ..fastpath import Decision, FastPath

THRESHOLD = 0.5  # probability from which a pixel is mosaic
MIN_AREA = 64  # px: a smaller component is noise
TILE = 1536  # px: images larger than this on a side are looked at in tiles...
OVERLAP = 128  # ...overlapping by this much (a tile's outer half of it is dropped)
# A faster path's probabilities may differ from plain fp32's by this much at any pixel.
# Tight: the combined finder's decisions are cliffs (THRESHOLD, SURE on an area's mean),
# and bf16 (0.038 on the sample) moved whole finds on held-out photos: 3 of 240 Sun-Hays
# cases of benchmarks/find_mosaic_iou.py --damage went from IoU 0.41-0.94 to 0. Layouts
# and fp32 kernels differ by ~1e-6.
TOLERANCE = 1e-3
SAMPLE = (1280, 720)  # the size the paths are measured at: a 720p frame


def weights_path() -> Path:
    """The shipped finder's safetensors file."""
    path = Path(str(resources.files("mosaicgan").joinpath("weights", "finder.safetensors")))
    if not path.is_file():
        raise InputError(None, "this installation ships no learned mosaic finder "
                               "(weights/finder.safetensors is missing)")
    return path


@functools.cache
def _network():
    """The shipped network, batch norm folded in, in eval mode (loaded once)."""
    from safetensors.torch import load_file

    from ..nets.mosaicseg import MosaicSeg, fused

    path = weights_path()
    meta = json.loads(path.with_suffix(".json").read_text())
    model = MosaicSeg(tuple(meta["widths"]), tuple(meta["blocks"]), meta["pyramid"])
    model.load_state_dict(load_file(str(path)))
    return fused(model)  # (run under torch.inference_mode: no gradients)


def mosaic_probability(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: how sure the network is that each pixel is mosaic.

    image: ``(H, W, 3)`` uint8 RGB.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if max(h, w) <= TILE:
        return _probability(image)
    out = np.zeros((h, w), np.float32)
    step = TILE - OVERLAP
    for y in range(0, max(1, h - OVERLAP), step):
        for x in range(0, max(1, w - OVERLAP), step):
            y1, x1 = min(h, y + TILE), min(w, x + TILE)
            y0, x0 = max(0, y1 - TILE), max(0, x1 - TILE)
            tile = _probability(image[y0:y1, x0:x1])
            # keep each tile's inner part: half the overlap is dropped on inner sides
            ky0 = 0 if y0 == 0 else OVERLAP // 2
            kx0 = 0 if x0 == 0 else OVERLAP // 2
            out[y0 + ky0:y1, x0 + kx0:x1] = tile[ky0:, kx0:]
    return out


def _probability(image: np.ndarray) -> np.ndarray:
    import torch

    pixels = image if image.flags.writeable and image.flags.c_contiguous else image.copy()
    x = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    model, path = _fast_network()
    return _run(model, path, x)[0, 0].numpy()


def _run(model: torch.nn.Module, path: FastPath, x: torch.Tensor) -> torch.Tensor:
    """Probabilities ``(B, 1, H, W)`` float32 from ``model`` on ``path`` for pixels ``x``."""
    import torch

    x = x.contiguous(memory_format=path.memory_format)
    with torch.inference_mode(), torch.autocast("cpu", dtype=path.dtype or torch.bfloat16,
                                                enabled=path.dtype is not None):
        return torch.sigmoid(model(x).float()).contiguous()


@functools.cache
def _fast_network() -> tuple[torch.nn.Module, FastPath]:
    """The network on the path this machine measures fastest (a copy in that layout: the
    plain network stays as loaded)."""
    path = decision().path
    return copy.deepcopy(_network()).to(memory_format=path.memory_format), path


def decision() -> Decision:
    """The fast path chosen for the network here (measured once, then cached per machine)."""
    import torch

    from ..fastpath import candidates, choose

    device = torch.device("cpu")
    sample = functools.cache(_sample)  # (made only when something is measured)

    def prepare(path):
        model = copy.deepcopy(_network()).to(memory_format=path.memory_format)
        return lambda: _run(model, path, sample())

    def gap(result, reference) -> float:
        difference = (result - reference).abs().max()
        return float(difference) if torch.isfinite(difference) else float("inf")

    return choose(candidates(device), prepare, gap, TOLERANCE, device,
                  {"task": "finder", "weights": _digest(), "pixels": SAMPLE[0] * SAMPLE[1],
                   "tolerance": TOLERANCE})


def _sample():
    """A real photo (scikit-image's astronaut) at the measured size, mosaiced in part."""
    import skimage.data
    import torch

    from ..mosaic import pixelate_array

    width, height = SAMPLE
    image = cv2.resize(skimage.data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((height, width), bool)
    mask[height // 4:height // 2, width // 2:3 * width // 4] = True
    image = pixelate_array(image, mask, 12, (width // 2, height // 4))
    return torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255


@functools.cache
def _digest() -> str:
    import hashlib

    return hashlib.sha256(weights_path().read_bytes()).hexdigest()[:16]


def find_learned(image: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """``(H, W)`` bool: where the learned finder sees a mosaic (components of at least
    MIN_AREA px)."""
    return large_components(mosaic_probability(image) >= threshold)


def large_components(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its 8-connected components smaller than MIN_AREA px."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA
    return keep[labels]
