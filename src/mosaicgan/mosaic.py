"""Pixelation on a block grid: each grid cell inside the region becomes its mean colour.

No files, no prints. :func:`pixelate` works on tensors (``(B, C, H, W)`` float images,
``(B, 1, H, W)`` bool masks: training pairs); the array functions (what images and videos
are mosaiced with) on NumPy alone, so a job that only hides regions never imports torch
(a second of start-up).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .geometry import components, nonzero_box, pad_box

if TYPE_CHECKING:
    from torch import Tensor

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
    import torch
    import torch.nn.functional as F

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

    Each cell is exactly its rounded mean colour (computed in float64). Only the grid
    cells around the mask are computed, a few rows of cells at a time: memory follows
    the region, not the image (a copy of the image is the only full-size array).
    """
    _check(image, mask, block)
    out = image.copy()
    box = nonzero_box(mask)
    if box is not None:
        x, y, w, h = box
        _pixelate_box(out, mask[y:y + h, x:x + w], (x, y), block, origin)
    return out


def mosaic_image(image: np.ndarray, mask: np.ndarray, block: int | None = None,
                 origin: tuple[int, int] | None = None) -> np.ndarray:
    """Pixelate ``image`` (H, W, 3) uint8 inside ``mask`` (H, W) bool.

    Each separate region of the mask gets its own grid, anchored at its top-left corner
    (or at ``origin`` when given), and by default its own block size: about 16 cells
    across its longer side. block: a fixed cell size for all regions.
    """
    out = image.copy()
    # Each region from its own crop (regions are disjoint: the order does not matter).
    for (x, y, w, h), crop in components(mask):
        b = block if block is not None else default_block(w, h)
        _check(image, mask, b)
        _pixelate_box(out, crop, (x, y), b, origin if origin is not None else (x, y))
    return out


# Pixels per float64 pass of pixelate (about 80 bytes each): a 20 MB buffer whatever the
# region's size; cells are independent, so passes of whole cell rows give the same result.
STRIP_PIXELS = 1 << 18


def _check(image: np.ndarray, mask: np.ndarray, block: int) -> None:
    if image.ndim != 3 or mask.shape != image.shape[:2]:
        raise ValueError(f"expected image (H,W,C) and mask (H,W), got {image.shape} and "
                         f"{mask.shape}")
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")


def _pixelate_box(out: np.ndarray, crop: np.ndarray, at: tuple[int, int], block: int,
                  origin: tuple[int, int]) -> None:
    """Pixelate ``out`` in place inside a region given as its box's crop ``crop`` (h, w)
    bool at ``at`` = (x, y): on the whole grid cells around it, in strips of cell rows."""
    height, width = out.shape[:2]
    (x, y), (h, w) = at, crop.shape
    ox, oy = origin
    gy0 = oy + (y - oy) // block * block  # the grid lines around the box (may be < 0)
    x0 = max(ox + (x - ox) // block * block, 0)
    x1 = min(ox + -(-(x + w - ox) // block) * block, width)
    y1 = min(oy + -(-(y + h - oy) // block) * block, height)
    rows = max(1, STRIP_PIXELS // max((x1 - x0) * block, 1)) * block
    for top in range(gy0, y1, rows):
        ya, yb = max(top, 0), min(top + rows, y1)
        part = np.zeros((yb - ya, x1 - x0), bool)  # the region on this strip of cells
        ra, rb = max(ya, y), min(yb, y + h)
        if ra >= rb:
            continue
        part[ra - ya:rb - ya, x - x0:x - x0 + w] = crop[ra - y:rb - y]
        out[ya:yb, x0:x1] = _cell_means(out[ya:yb, x0:x1], part, block, (ox - x0, oy - ya))


def _cell_means(strip: np.ndarray, part: np.ndarray, block: int, origin: tuple[int, int]
                ) -> np.ndarray:
    """``strip`` (h, w, C) uint8 with each grid cell's pixels under ``part`` (h, w) bool set
    to their mean (float64, rounded): :func:`pixelate`'s arithmetic in NumPy, on the same
    grid (a corner at ``origin``)."""
    h, w, channels = strip.shape
    pad_x, pad_y = (-origin[0]) % block, (-origin[1]) % block
    right, bottom = -(w + pad_x) % block, -(h + pad_y) % block
    padding = ((pad_y, bottom), (pad_x, right))
    inside = np.pad(part, padding)
    values = np.where(inside[..., None], np.pad(strip, (*padding, (0, 0))), 0)
    rows, cols = inside.shape[0] // block, inside.shape[1] // block
    # Integer sums (exact), then the same float64 divisions as pixelate's two average
    # pools, so both give the same cells to the last bit.
    sums = values.reshape(rows, block, cols, block, channels).sum(axis=(1, 3), dtype=np.int64)
    counts = inside.reshape(rows, block, cols, block).sum(axis=(1, 3), dtype=np.int64)
    area = float(block * block)
    means = (sums / area) / np.maximum(counts / area, 1e-12)[..., None]
    tiles = np.round(means).astype(np.uint8).repeat(block, 0).repeat(block, 1)
    tiles = tiles[pad_y:pad_y + h, pad_x:pad_x + w]
    return np.where(part[..., None], tiles, strip)


def blur_array(image: np.ndarray, mask: np.ndarray, sigma: float | None = None) -> np.ndarray:
    """Gaussian-blur ``image`` (H, W, 3) uint8 inside ``mask`` (H, W) bool.

    sigma: default a tenth of the region's longer side (at least 3 px): strong enough that
    faces and text are not recognisable, though a blur, like a mosaic, is not a proof
    against reconstruction.

    Only the mask's box is blurred, in a crop grown by more than the kernel's reach
    (OpenCV's 8-bit kernel spans 3 sigma each side): each pixel there is what blurring
    the whole image gives, reflected at the image's own borders as before.
    """
    import cv2

    box = nonzero_box(mask)
    if box is None:
        return image.copy()
    x, y, w, h = box
    if sigma is None:
        sigma = max(3.0, max(w, h) / 10)
    height, width = mask.shape
    cx, cy, cw, ch = pad_box(box, int(np.ceil(4 * sigma)) + 2, width, height)
    blurred = cv2.GaussianBlur(image[cy:cy + ch, cx:cx + cw], (0, 0), sigmaX=float(sigma),
                               borderType=cv2.BORDER_REFLECT)
    out = image.copy()
    inside = mask[y:y + h, x:x + w, None]
    out[y:y + h, x:x + w] = np.where(inside, blurred[y - cy:y - cy + h, x - cx:x - cx + w],
                                     image[y:y + h, x:x + w])
    return out


def solid_array(image: np.ndarray, mask: np.ndarray,
                colour: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Fill ``mask`` with one colour: the only style that removes what was there."""
    out = image.copy()
    box = nonzero_box(mask)
    if box is not None:
        x, y, w, h = box
        out[y:y + h, x:x + w][mask[y:y + h, x:x + w]] = np.asarray(colour, np.uint8)
    return out
