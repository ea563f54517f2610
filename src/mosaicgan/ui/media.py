"""An uploaded file as the tabs hold it: its copy in the workspace, whether it is a video,
and the picture shown for it (the image itself, or a video's first frame). No gradio."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import api
from ..imageio import read_image, write_image
from .workspace import Workspace


@dataclass(frozen=True)
class Upload:
    src: Path  # the copy the job reads (under its own name)
    frame: Path  # PNG of what the page shows and the regions are drawn on
    video: bool

    @property
    def job(self) -> Path:
        """The job folder: outputs go beside the input."""
        return self.src.parent.parent

    def picture(self) -> np.ndarray:
        return read_image(self.frame)

    def as_state(self) -> dict[str, str | bool]:
        return {"src": str(self.src), "frame": str(self.frame), "video": self.video}

    @classmethod
    def from_state(cls, state: dict | None) -> Upload | None:
        if not state or "src" not in state:
            return None
        return cls(Path(state["src"]), Path(state["frame"]), bool(state["video"]))


def take(workspace: Workspace, path: str | Path) -> tuple[Upload, np.ndarray]:
    """Copy an upload into the workspace and read it as the jobs will (a bad file fails
    here, in one line); returns it and its picture."""
    src = workspace.take(path)
    video = api.is_video(src)
    picture = api.video_frame(src) if video else read_image(src)
    frame = src.parent.parent / "frame.png"
    if video:
        write_image(frame, picture)
    else:
        frame = src  # (read again from the upload itself)
    return Upload(src, frame, video), picture
