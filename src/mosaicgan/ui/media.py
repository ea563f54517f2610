"""An uploaded file as the tabs hold it: its copy in the workspace, whether it is a video,
and the picture shown for it (the image itself, or a video's first frame); the outputs of
its jobs, named by the project's rule. No gradio."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import api
from ..imageio import read_image, read_image_form, write_image
from ..jobs.batch import refuse_deep
from ..naming import output_name
from .workspace import Workspace

CHECKER = 8  # px: the squares transparent pixels show, as image editors draw them
CHECKER_GREYS = (255, 204)


def on_checkerboard(rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """``rgb`` composited over a grey checkerboard by ``alpha`` (the page shows what is
    transparent as transparent, not as the colour hidden under it); as it is without."""
    if alpha is None:
        return rgb
    yy, xx = np.indices(alpha.shape)
    board = np.where((yy // CHECKER + xx // CHECKER) % 2 == 0, *CHECKER_GREYS)
    a = alpha.astype(np.float32)[..., None] / 255
    out = rgb.astype(np.float32) * a + board.astype(np.float32)[..., None] * (1 - a)
    return np.round(out).astype(np.uint8)


def displayed(path: str | Path) -> np.ndarray:
    """An image file as the page shows it: RGB, transparent pixels on a checkerboard."""
    image, form = read_image_form(path)
    return on_checkerboard(image, form.alpha)


@dataclass(frozen=True)
class Upload:
    src: Path  # the copy the job reads (under its own name)
    frame: Path  # what the page shows and the regions are drawn on (an image file)
    video: bool

    @property
    def job(self) -> Path:
        """The job folder: outputs go beside the input."""
        return self.src.parent.parent

    def picture(self) -> np.ndarray:
        """What the page shows (transparent pixels on a checkerboard)."""
        return displayed(self.frame)

    def pixels(self) -> np.ndarray:
        """What the jobs see: the RGB pixels (a preview finds regions in these)."""
        return read_image(self.frame)

    def out_dir(self) -> Path:
        """A new, empty folder for one run's outputs; those of earlier runs are removed
        (the page holds its own copies of what it showed)."""
        for old in self.job.glob("out-*"):
            shutil.rmtree(old, ignore_errors=True)
        folder = self.job / f"out-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        return folder

    def as_state(self) -> dict[str, str | bool]:
        return {"src": str(self.src), "frame": str(self.frame), "video": self.video}

    @classmethod
    def from_state(cls, state: dict | None) -> Upload | None:
        if not state or "src" not in state:
            return None
        return cls(Path(state["src"]), Path(state["frame"]), bool(state["video"]))


def take(workspace: Workspace, path: str | Path) -> tuple[Upload, np.ndarray]:
    """Copy an upload into the workspace and read it as the jobs will, refusing at once
    what they would refuse (unreadable, more pixels than imageio's limit now, 16 bits per
    sample) in one line; returns it and its picture."""
    src = workspace.take(path)
    if api.is_video(src):
        picture = api.video_frame(src)
        frame = src.parent.parent / "frame.png"
        write_image(frame, picture)
        return Upload(src, frame, True), picture
    image, form = read_image_form(src)
    refuse_deep(src, form)  # (the jobs' own check, with their words)
    return Upload(src, src, False), on_checkerboard(image, form.alpha)


def by_rule(out: Path, upload: Path, job: str) -> Path:
    """``out`` under the name the project's rule gives ``job``'s output for ``upload``
    (:func:`mosaicgan.naming.output_name`: ``cat.jpg`` -> ``cat_restored.jpg``), with the
    suffix of the format it was written in. The jobs name their outputs so; this only
    renames one that is not (a download is never named like the upload)."""
    wanted = out.with_name(output_name(upload.name, job).name).with_suffix(out.suffix)
    if wanted != out:
        out.replace(wanted)
    return wanted


def download_label(out: Path, what: str, video: bool) -> str:
    """What the download is: ``Download: the restored video (MP4)``."""
    kind = "video" if video else "image"
    return f"Download: the {what} {kind} ({out.suffix.lstrip('.').upper()})"
