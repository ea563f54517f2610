"""Which frames a detector runs on when it runs every N-th frame: the stride, and more.

Between two detections the tracker (:mod:`.temporal`) covers each region on the path
from one detection to the next, and a region first seen at a detection back to the one
before. That holds while the picture between two detections is one continuous shot, so
a detection also runs:

- on both sides of a **cut** (a frame whose thumbnail differs from the one before by
  :data:`CUT` grey levels on average, once the two are aligned): the last frame of one
  shot and the first of the next, so no shot's frames are bridged from the other's
  detections;
- when the picture has **changed** by :data:`CHANGE` since the last detection (someone
  walking into the frame, a face turning, a zoom), or the camera has moved more than
  :data:`REACH` of the frame (new picture coming in at its edge): the stride shortens;
- on the **last frame**, so faces that appear after the last regular detection are seen.

A thumbnail is the frame in grey, shrunk to :data:`THUMB` px wide (INTER_AREA) and
blurred a little: noise averages out, a cut does not. Two thumbnails are compared where
they match best when one is shifted by up to :data:`REACH` of its size (OpenCV's template
matching): a camera panning or shaking is not a change (the tracker follows it between
two detections), only what the shift does not explain is.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

THUMB = 128  # thumbnail width, px (the height keeps the frame's aspect ratio)
BLUR = 1.0  # Gaussian sigma on the thumbnail, px: a sub-pixel shift leaves ~1-4 levels
# How far one thumbnail may shift to match the other, as a fraction of its width and
# height (a camera panning 16 px a frame across 1280 px for 8 frames).
REACH = 0.1
# Mean absolute difference of two aligned thumbnails, in grey levels (0-255). Measured on
# benchmarks/video_speed.py's face clip (photos moving 6 px a frame, a cut between them):
# 8 frames of a pan 0.9-3.9 aligned (12-27 before aligning), two different photos 45-56.
# A false cut costs two detections, a missed one the frames between two detections of
# different shots; a change of CHANGE is, say, a sixth of the picture 50 levels brighter.
CUT = 12.0
CHANGE = 8.0


def thumbnail(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    size = (THUMB, max(1, round(THUMB * height / width)))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    return cv2.GaussianBlur(small, (0, 0), BLUR)


def align(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """How far the picture moved from thumbnail ``a`` to ``b`` (x, y, in thumbnail px) and
    the mean absolute difference left once they are aligned: ``b``'s centre matched over
    ``a`` shifted by up to :data:`REACH` of the size (more motion than that, or a
    different picture, leaves a large difference)."""
    height, width = b.shape
    rx, ry = round(REACH * width), round(REACH * height)
    core = b[ry:height - ry, rx:width - rx]
    if min(core.shape) < 1:
        return 0.0, 0.0, float(np.abs(a - b).mean())
    _, _, (x, y), _ = cv2.minMaxLoc(cv2.matchTemplate(a, core, cv2.TM_SQDIFF))
    left = float(np.abs(a[y:y + core.shape[0], x:x + core.shape[1]] - core).mean())
    return float(rx - x), float(ry - y), left


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """The difference :func:`align` leaves between two thumbnails."""
    return align(a, b)[2]


class Scheduled(NamedTuple):
    """A frame the schedule has decided on. shift: when detected, how far the picture
    moved since the detection before, in the frame's px (x, y; the camera's pan, for the
    tracker to expect its regions there); None where no shift explains the move (the
    first detection, a cut, a change) and at a stride of 1."""

    index: int
    frame: np.ndarray
    detect: bool
    shift: tuple[float, float] | None = None


class DetectionSchedule:
    """Decides whether a detector runs on each frame: with ``every=1`` on all of them, at
    once; otherwise one frame behind.

    ``add(index, frame)`` returns the :class:`Scheduled` frame just added (``every=1``) or
    the previous one, once the frame after it is known (a cut between them is seen then);
    ``finish()`` returns the last frame's, always detected.
    """

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"detect_every must be >= 1, got {every}")
        self.every = every
        self._pending: tuple[int, np.ndarray, np.ndarray, bool] | None = None
        self._last_detected: int | None = None
        self._detected_thumb: np.ndarray | None = None
        self.cuts = 0  # cuts seen so far

    def add(self, index: int, frame: np.ndarray) -> Scheduled | None:
        if self.every == 1:
            return Scheduled(index, frame, True)
        thumb = thumbnail(frame)
        cut = self._pending is not None and difference(thumb, self._pending[2]) >= CUT
        self.cuts += cut
        out = self._release(cut)
        self._pending = (index, frame, thumb, cut)
        return out

    def finish(self) -> Scheduled | None:
        return self._release(True)

    def _release(self, before_cut: bool) -> Scheduled | None:
        if self._pending is None:
            return None
        index, frame, thumb, after_cut = self._pending
        self._pending = None
        dx = dy = 0.0
        left = np.inf
        if self._detected_thumb is not None and not after_cut:
            dx, dy, left = align(self._detected_thumb, thumb)
        detect = (before_cut or after_cut or self._last_detected is None
                  or index - self._last_detected >= self.every or left >= CHANGE)
        if not detect:
            return Scheduled(index, frame, False)
        shift = None
        if left < CHANGE:  # aligned: the move is the camera's
            height, width = frame.shape[:2]
            shift = (dx * width / thumb.shape[1], dy * height / thumb.shape[0])
        self._last_detected, self._detected_thumb = index, thumb
        return Scheduled(index, frame, True, shift)
