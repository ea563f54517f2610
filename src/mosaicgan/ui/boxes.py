"""Boxes as the page shows them: one ``x,y,w,h`` per line of a text box, added by two
clicks on the image; and the overlay that draws regions over an image. No gradio here."""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import Box
from ..regions.masks import parse_box

# RGB colours of the overlay: regions that will be acted on, and those left alone
ACT = (255, 64, 32)
LEAVE = (150, 150, 150)
CORNER = (255, 220, 0)


def parse_boxes(text: str | None) -> list[Box]:
    """The boxes of a text box, one ``x,y,w,h`` per line (blank lines ignored); a bad line
    is a ValueError naming it."""
    boxes = []
    for n, line in enumerate((text or "").splitlines(), 1):
        if line.strip():
            try:
                boxes.append(parse_box(line.strip()))
            except ValueError as exc:
                raise ValueError(f"box on line {n}: {exc}") from None
    return boxes


def format_boxes(boxes: list[Box]) -> str:
    return "\n".join(",".join(str(int(v)) for v in box) for box in boxes)


def box_from_corners(a: tuple[int, int], b: tuple[int, int]) -> Box | None:
    """The box two clicked corners span (None when it has no area)."""
    x0, x1 = sorted((int(a[0]), int(b[0])))
    y0, y1 = sorted((int(a[1]), int(b[1])))
    return None if x1 == x0 or y1 == y0 else (x0, y0, x1 - x0, y1 - y0)


def clicked(state: dict, text: str, point: tuple[int, int]) -> tuple[dict, str]:
    """A click on the picture: the first corner of a box (kept in ``state["corner"]``), or
    the second, which adds the box to the ``x,y,w,h`` lines of ``text``."""
    corner = state.get("corner")
    if corner is None:
        return {**state, "corner": list(point)}, text
    box = box_from_corners(corner, point)
    return {**state, "corner": None}, (text if box is None
                                       else format_boxes([*parse_boxes(text), box]))


def overlay(image: np.ndarray, act: list[Box] | None = None, leave: list[Box] | None = None,
            mask: np.ndarray | None = None, corner: tuple[int, int] | None = None,
            labels: list[str] | None = None) -> np.ndarray:
    """``image`` with ``mask`` tinted, the boxes to ``act`` on outlined and those to
    ``leave`` alone in grey, each named by ``labels`` (acted on first, then left; default
    numbered in turn, as the page lists them); ``corner``: a first click."""
    out = image.copy()
    if mask is not None and mask.any():
        tint = out[mask].astype(np.float32) * 0.7 + np.array(ACT, np.float32) * 0.3
        out[mask] = tint.astype(np.uint8)
    thick = max(2, round(max(image.shape[:2]) / 300))
    act, leave = act or [], leave or []
    names = labels or [str(n) for n in range(1, len(act) + len(leave) + 1)]
    drawn = [(LEAVE, box, name) for box, name in zip(leave, names[len(act):], strict=False)]
    drawn += [(ACT, box, name) for box, name in zip(act, names, strict=False)]
    for colour, (x, y, w, h), name in drawn:
        cv2.rectangle(out, (x, y), (x + w - 1, y + h - 1), colour, thick)
        scale = thick / 3
        cv2.putText(out, name, (x + thick + 2, y + round(22 * scale) + thick),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thick, cv2.LINE_AA)
    if corner is not None:
        cv2.drawMarker(out, (int(corner[0]), int(corner[1])), CORNER, cv2.MARKER_CROSS,
                       8 * thick, thick)
    return out
