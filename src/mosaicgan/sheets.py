"""Every picture the project draws: training sample sheets, before/after sheets, report grids.

Each panel made from an input passes the safety gate's rule for outputs
(:func:`mosaicgan.safety.screen_output`): a panel that shows a face or nudity its input
panel did not show there is replaced by a grey "withheld" panel.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import safety

GAP = 4  # px between the panels of a sample sheet
WITHHELD_GREY = 128


def withheld(height: int, width: int, reasons: list[str] | None = None) -> np.ndarray:
    """A grey ``(height, width, 3)`` panel saying it was withheld (and why)."""
    panel = Image.new("RGB", (width, height), (WITHHELD_GREY,) * 3)
    if width >= 40 and height >= 12:
        text = "withheld" + (f": {', '.join(reasons)}" if reasons and width >= 120 else "")
        ImageDraw.Draw(panel).text((2, max(0, height // 2 - 6)), text, fill="white")
    return np.asarray(panel)


def screened(source: np.ndarray, panel: np.ndarray, mask: np.ndarray | None = None
             ) -> np.ndarray:
    """``panel`` (made from ``source``), or a withheld panel where the gate refuses it.

    mask: for a restoration, the ``(H, W)`` bool region that was restored (the rule looks
    inside it); None for a translation (faces must match the source's).
    """
    reasons = safety.screen_output(source, panel, mask)
    return withheld(*panel.shape[:2], reasons) if reasons else panel


def screened_rows(rows: list[list[np.ndarray]], masks: list[np.ndarray] | None = None
                  ) -> list[list[np.ndarray]]:
    """Rows of panels whose first panel is the input: every other panel screened against it."""
    return [[row[0], *(screened(row[0], p, None if masks is None else masks[i])
                       for p in row[1:])] for i, row in enumerate(rows)]


def sample_sheet(rows: list[list[np.ndarray]]) -> np.ndarray:
    """A grid image: one row per sample, columns as given (e.g. input | output | target).

    Panels are ``(H, W, 3)`` uint8 of one size; the caller screens them first.
    """
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (h + GAP) - GAP, ncol * (w + GAP) - GAP, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            sheet[i * (h + GAP):i * (h + GAP) + h, j * (w + GAP):j * (w + GAP) + w] = img
    return sheet


def labelled(image: np.ndarray, label: str, height: int = 192) -> Image.Image:
    """The image scaled to ``height`` px with a line of text above it."""
    im = Image.fromarray(image)
    im = im.resize((round(im.width * height / im.height), height), Image.LANCZOS)
    canvas = Image.new("RGB", (im.width, height + 18), "white")
    canvas.paste(im, (0, 18))
    ImageDraw.Draw(canvas).text((3, 3), label, fill="black")
    return canvas


def before_after_sheet(rows: list[list[tuple[np.ndarray, str]]]) -> np.ndarray:
    """One row per image of labelled tiles (e.g. mosaiced | found | restored | original)."""
    tiles = [[labelled(img, label) for img, label in row] for row in rows]
    width = max(sum(t.width for t in row) + 6 * (len(row) - 1) for row in tiles)
    height = sum(row[0].height for row in tiles) + 6 * (len(tiles) - 1)
    sheet = Image.new("RGB", (width, height), "white")
    y = 0
    for row in tiles:
        x = 0
        for tile in row:
            sheet.paste(tile, (x, y))
            x += tile.width + 6
        y += row[0].height + 6
    return np.asarray(sheet)


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with a JET-coloured heat map blended over it (for looking at a CAM)."""
    colours = cv2.applyColorMap((np.clip(heatmap, 0, 1) * 255).astype(np.uint8),
                                cv2.COLORMAP_JET)[..., ::-1]
    return np.round((1 - alpha) * image + alpha * colours).astype(np.uint8)
