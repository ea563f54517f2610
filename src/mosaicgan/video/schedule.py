"""Which frames a detector runs on when it runs every N-th frame: the stride, and more.

Between two detections the tracker (:mod:`.temporal`) covers each region on the path
from one detection to the next, and a region first seen at a detection back to the one
before. That holds while the picture between two detections is one continuous shot, so
a detection also runs:

- on both sides of a **cut** (a frame whose thumbnail differs from the one before by
  :data:`CUT` grey levels on average): the last frame of one shot and the first of the
  next, so no shot's frames are bridged from the other's detections;
- when the picture has **changed** by :data:`CHANGE` since the last detection (a fast
  pan, someone walking into the frame, a face turning): the stride shortens;
- on the **last frame**, so faces that appear after the last regular detection are seen.

A thumbnail is the frame in grey, shrunk to :data:`THUMB` px wide (INTER_AREA): noise and
small motion average out, a cut does not.
"""

from __future__ import annotations

import cv2
import numpy as np

THUMB = 48  # thumbnail width, px (the height keeps the frame's aspect ratio)
# Mean absolute difference of two thumbnails, in grey levels (0-255). A shot panning at
# 6 px a frame across 1280 px moves its thumbnail by a quarter pixel: 1-3 levels; two
# different photos differ by 30-70. A false cut costs two detections, a missed one the
# frames between two detections of different shots.
CUT = 12.0
CHANGE = 16.0


def thumbnail(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    size = (THUMB, max(1, round(THUMB * height / width)))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


class DetectionSchedule:
    """Decides whether a detector runs on each frame: with ``every=1`` on all of them, at
    once; otherwise one frame behind.

    ``add(index, frame)`` returns ``(index, frame, detect)`` for the frame just added
    (``every=1``) or for the previous one, once the frame after it is known (a cut between
    them is seen then); ``finish()`` returns the last frame's, always detected.
    """

    def __init__(self, every: int):
        if every < 1:
            raise ValueError(f"detect_every must be >= 1, got {every}")
        self.every = every
        self._pending: tuple[int, np.ndarray, np.ndarray, bool] | None = None
        self._last_detected: int | None = None
        self._detected_thumb: np.ndarray | None = None
        self.cuts = 0  # cuts seen so far

    def add(self, index: int, frame: np.ndarray) -> tuple[int, np.ndarray, bool] | None:
        if self.every == 1:
            return index, frame, True
        thumb = thumbnail(frame)
        cut = self._pending is not None and difference(thumb, self._pending[2]) >= CUT
        self.cuts += cut
        out = self._release(cut)
        self._pending = (index, frame, thumb, cut)
        return out

    def finish(self) -> tuple[int, np.ndarray, bool] | None:
        return self._release(True)

    def _release(self, before_cut: bool) -> tuple[int, np.ndarray, bool] | None:
        if self._pending is None:
            return None
        index, frame, thumb, after_cut = self._pending
        self._pending = None
        detect = (before_cut or after_cut or self._last_detected is None
                  or index - self._last_detected >= self.every
                  or difference(thumb, self._detected_thumb) >= CHANGE)
        if detect:
            self._last_detected, self._detected_thumb = index, thumb
        return index, frame, detect
