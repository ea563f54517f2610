"""What a restoration must beat: the mosaic itself, bicubic interpolation of the block
means, and OpenCV's Telea inpainting of the region from its surroundings."""

from __future__ import annotations

import cv2
import numpy as np

from .find import CellGrid, resample, to_integer_grid

BASELINES = ("mosaic", "bicubic", "inpaint_telea")


def bicubic_on_grid(mosaic: np.ndarray, mask: np.ndarray, grid: CellGrid) -> np.ndarray:
    """:func:`bicubic_from_blocks` on any grid: a rescaled mosaic's neighbourhood is
    resampled so its cells are whole squares, interpolated there, and resampled back."""
    if grid.is_integer:
        return bicubic_from_blocks(mosaic, mask, grid.block, grid.origin)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return mosaic.copy()
    h, w = mask.shape
    pad = 2 * grid.block
    roi = (max(0, ys.min() - pad), min(h, ys.max() + pad + 1), max(0, xs.min() - pad),
           min(w, xs.max() + pad + 1))
    q = max(4, grid.block)
    m, size = to_integer_grid(grid, roi, q)
    plan = resample(mosaic, m, size)
    plan_mask = resample(mask.astype(np.uint8) * 255, m, size) >= 128
    filled = bicubic_from_blocks(plan, plan_mask, q, (0, 0))
    back = cv2.warpAffine(filled, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    return np.where(mask[..., None], back, mosaic)


def bicubic_from_blocks(mosaic: np.ndarray, mask: np.ndarray, block: int,
                        origin: tuple[int, int]) -> np.ndarray:
    """Replace the mosaic inside ``mask`` by a bicubic interpolation of its block means.

    Each cell's colour (its masked pixels' value, or for a cell outside the mask the mean
    of the known pixels there) sits at the cell's centre; cv2's resize (which maps pixel
    centres) interpolates between the centres.
    """
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return mosaic.copy()
    ox, oy = origin
    # The cell grid covering the mask's box, aligned on the mosaic's grid.
    gx0 = ox + ((xs.min() - ox) // block) * block
    gy0 = oy + ((ys.min() - oy) // block) * block
    nx = (xs.max() - gx0) // block + 1
    ny = (ys.max() - gy0) // block + 1
    h, w = mask.shape
    cells = np.zeros((ny, nx, 3), np.float32)
    for j in range(ny):
        for i in range(nx):
            ya, xa = max(gy0 + j * block, 0), max(gx0 + i * block, 0)
            yb, xb = min(gy0 + (j + 1) * block, h), min(gx0 + (i + 1) * block, w)
            pixels, inside = mosaic[ya:yb, xa:xb], mask[ya:yb, xa:xb]
            chosen = pixels[inside] if inside.any() else pixels.reshape(-1, 3)
            cells[j, i] = chosen.mean(axis=0) if len(chosen) else 0
    up = cv2.resize(cells, (nx * block, ny * block), interpolation=cv2.INTER_CUBIC)
    out = mosaic.copy()
    region = np.zeros_like(mosaic, dtype=np.float32)
    x0, y0 = max(gx0, 0), max(gy0, 0)
    x1, y1 = min(gx0 + nx * block, w), min(gy0 + ny * block, h)
    region[y0:y1, x0:x1] = up[y0 - gy0:y1 - gy0, x0 - gx0:x1 - gx0]
    out[mask] = np.clip(np.round(region[mask]), 0, 255).astype(np.uint8)
    return out


def inpaint_telea(mosaic: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """OpenCV's Telea inpainting of the masked region from the pixels around it."""
    return cv2.inpaint(mosaic, mask.astype(np.uint8), radius, cv2.INPAINT_TELEA)


def run_baseline(name: str, mosaic: np.ndarray, mask: np.ndarray, block: int,
                 origin: tuple[int, int]) -> np.ndarray:
    if name == "mosaic":
        return mosaic.copy()
    if name == "bicubic":
        return bicubic_from_blocks(mosaic, mask, block, origin)
    if name == "inpaint_telea":
        return inpaint_telea(mosaic, mask)
    raise ValueError(f"unknown baseline {name!r}; choose one of {', '.join(BASELINES)}")
