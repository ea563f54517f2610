"""What a job will see, for a look before it runs (the web app's previews): whether a
file is a video, and one of its frames as the jobs decode it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..video.io import is_video, probe, read_frames

__all__ = ["is_video", "video_frame"]


def video_frame(src: str | Path, at: float = 0.0) -> np.ndarray:
    """The first frame of ``src`` at or after ``at`` seconds, ``(H, W, 3)`` uint8 RGB in
    display orientation (as the video jobs see it); InputError for a file that is not a
    readable video or has no frame there."""
    probe(src)  # a broken file fails here, in one line naming it
    for _, frame in read_frames(src, start=at or None):
        return frame
    raise InputError(src, f"no video frame at {at:g} s")
