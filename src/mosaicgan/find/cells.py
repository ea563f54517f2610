"""A mosaic's cells, and making a restoration agree with them.

A mosaic keeps exactly one fact about each cell: the mean of the pixels it covered. Any
restoration can be made to honour that fact by shifting each cell's pixels so that
their mean is the cell's colour again. That shift is the orthogonal projection onto
the images with those means, a set the true image belongs to, so it never moves a
restoration further from the truth (in squared error; clipping to [0, 255] aside) —
the data-consistency step of super-resolution (iterative back-projection).
"""

from __future__ import annotations

import numpy as np

ROUNDS = 3  # clipping to [0, 255] moves a mean again; a few rounds settle it


def cell_ids(mask: np.ndarray, block: int, origin: tuple[int, int]
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The masked pixels' rows, columns and cell numbers (0..n-1), and n.

    A cell is the part of one ``block``-square of the grid through ``origin`` (x, y)
    that lies inside ``mask``, as in :func:`mosaicgan.mosaic.pixelate`.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return ys, xs, ys, 0
    ox, oy = origin
    cy, cx = (ys - oy) // block, (xs - ox) // block
    cy, cx = cy - cy.min(), cx - cx.min()
    _, ids = np.unique(cy * (int(cx.max()) + 1) + cx, return_inverse=True)
    return ys, xs, ids.reshape(-1), int(ids.max()) + 1


def match_cell_means(restored: np.ndarray, mosaic: np.ndarray, mask: np.ndarray,
                     block: int, origin: tuple[int, int], rounds: int = ROUNDS) -> np.ndarray:
    """``restored`` with each cell inside ``mask`` shifted to the mean colour the
    ``mosaic`` has there; pixels outside the mask are returned unchanged.

    The cell colour is the mean of the mosaic's pixels in the cell (a clean mosaic is
    constant there; a JPEG-compressed one is close to it).
    """
    out = restored.copy()
    ys, xs, ids, n = cell_ids(mask, block, origin)
    if n == 0:
        return out
    counts = np.bincount(ids, minlength=n).astype(np.float64)
    values = restored[ys, xs].astype(np.float64)
    known = mosaic[ys, xs].astype(np.float64)
    for c in range(values.shape[1]):
        target = np.bincount(ids, known[:, c], n) / counts
        v = values[:, c]
        for _ in range(rounds):
            v += (target - np.bincount(ids, v, n) / counts)[ids]
            np.clip(v, 0, 255, out=v)
    out[ys, xs] = np.round(values).astype(np.uint8)
    return out


def block_means(image: np.ndarray, block: int) -> np.ndarray:
    """``(H/block, W/block, 3)`` float32 cell colours of an image whose sides are multiples
    of ``block``, its grid at (0, 0): the mean of each block (what a mosaic keeps)."""
    h, w = image.shape[:2]
    if h % block or w % block:
        raise ValueError(f"a {w}x{h} image is not whole cells of {block} px")
    cells = image.reshape(h // block, block, w // block, block, -1).astype(np.float32)
    return cells.mean(axis=(1, 3))


def cell_grid(image: np.ndarray, block: int, origin: tuple[int, int],
              box: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The cells of the grid through ``origin`` (x, y) that cover ``box`` (x, y, w, h):
    ``(rows, cols, 3)`` float32 block means (edge-replicated where the cells leave the
    image) and the (x, y) of the first cell's corner. For a clean mosaic each value is the
    cell's colour exactly; for a re-encoded one, the mean of what survived."""
    x, y, w, h = box
    ox, oy = origin
    x0 = ox + ((x - ox) // block) * block
    y0 = oy + ((y - oy) // block) * block
    cols = -(-(x + w - x0) // block)
    rows = -(-(y + h - y0) // block)
    ih, iw = image.shape[:2]
    ys = np.clip(np.arange(y0, y0 + rows * block), 0, ih - 1)
    xs = np.clip(np.arange(x0, x0 + cols * block), 0, iw - 1)
    return block_means(image[ys][:, xs], block), (int(x0), int(y0))
