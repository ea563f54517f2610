"""Pixelation on a block grid: each grid cell inside the region becomes its mean colour.

Pure tensor code: no files, no prints. Images are ``(B, C, H, W)`` float, masks
``(B, 1, H, W)`` bool.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .geometry import component_masks

BLOCKS_ACROSS = 16  # default: about 12-20 blocks across a region's longer side


def default_block(width: int, height: int) -> int:
    """Block size giving about 16 blocks across the region's longer side (at least 2 px)."""
    return max(2, round(max(width, height) / BLOCKS_ACROSS))


def pixelate(img: Tensor, mask: Tensor, block: int, origin: tuple[int, int] = (0, 0)) -> Tensor:
    """Mosaic ``img`` where ``mask`` is set.

    The grid has square cells of ``block`` pixels with a corner at ``origin`` = (x, y).
    Each cell's masked pixels become the mean of that cell's masked pixels, so nothing
    outside the region leaks in and pixels outside the mask are returned unchanged.

    Args:
        img: ``(B, C, H, W)`` float.
        mask: ``(B, 1, H, W)`` bool.
        block: cell size in pixels (>= 1).
        origin: a grid corner (x, y); any integers, taken modulo ``block``.

    Returns:
        ``(B, C, H, W)``, same dtype as ``img``.
    """
    if img.dim() != 4 or mask.dim() != 4 or mask.shape[1] != 1 or \
            mask.shape[-2:] != img.shape[-2:] or mask.shape[0] != img.shape[0]:
        raise ValueError(f"expected img (B,C,H,W) and mask (B,1,H,W), got {tuple(img.shape)} "
                         f"and {tuple(mask.shape)}")
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    h, w = img.shape[-2:]
    pad_x, pad_y = (-origin[0]) % block, (-origin[1]) % block
    right = (-(w + pad_x)) % block
    bottom = (-(h + pad_y)) % block
    m = mask.to(img.dtype)
    padding = (pad_x, right, pad_y, bottom)
    # Ratio of two average pools = masked mean per cell (the divisors cancel).
    sums = F.avg_pool2d(F.pad(img * m, padding), block)
    counts = F.avg_pool2d(F.pad(m, padding), block)
    means = sums / counts.clamp_min(1e-12)
    tiles = means.repeat_interleave(block, -2).repeat_interleave(block, -1)
    tiles = tiles[..., pad_y:pad_y + h, pad_x:pad_x + w]
    return torch.where(mask, tiles, img)


def pixelate_array(image: np.ndarray, mask: np.ndarray, block: int,
                   origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """:func:`pixelate` for an ``(H, W, 3)`` uint8 array and an ``(H, W)`` bool mask.

    Computed in float64, so each cell is exactly its rounded mean colour.
    """
    img = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)[None]
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None]
    out = pixelate(img, m, block, origin)
    return out[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()


def mosaic_image(image: np.ndarray, mask: np.ndarray, block: int | None = None,
                 origin: tuple[int, int] | None = None) -> np.ndarray:
    """Pixelate ``image`` (H, W, 3) uint8 inside ``mask`` (H, W) bool.

    Each separate region of the mask gets its own grid, anchored at its top-left corner
    (or at ``origin`` when given), and by default its own block size: about 16 cells
    across its longer side. block: a fixed cell size for all regions.
    """
    out = image.copy()
    for (x, y, w, h), region in component_masks(mask):
        b = block if block is not None else default_block(w, h)
        out = pixelate_array(out, region, b, origin if origin is not None else (x, y))
    return out


def blur_array(image: np.ndarray, mask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian-blur ``image`` (H, W, 3) uint8 inside ``mask`` (H, W) bool.

    sigma: default a tenth of the region's longer side (at least 3 px): strong enough that
    faces and text are not recognisable, though a blur, like a mosaic, is not a proof
    against reconstruction.
    """
    import cv2

    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return image.copy()
    if sigma is None:
        sigma = max(3.0, max(xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) / 10)
    blurred = cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_REFLECT)
    return np.where(mask[..., None], blurred, image)


def solid_array(image: np.ndarray, mask: np.ndarray,
                colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Fill ``mask`` with one colour: the only style that removes what was there."""
    out = image.copy()
    out[mask] = np.asarray(colour, np.uint8)
    return out
