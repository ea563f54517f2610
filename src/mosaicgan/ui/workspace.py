"""The private temporary folder of one server: every upload and output lives in it, and
it is removed when the server stops. No gradio here."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import uuid
from pathlib import Path

from ..errors import InputError

MEGABYTE = 1 << 20


class Workspace:
    """``root``: a new folder only this user can read (``mkdtemp`` makes it 0700)."""

    def __init__(self, max_upload_mb: int):
        self.root = Path(tempfile.mkdtemp(prefix="mosaicgan-ui-"))
        self.max_upload_mb = max_upload_mb
        self.gradio_dir = self.root / "uploads"  # gradio's own cache of uploads
        self.gradio_dir.mkdir()
        atexit.register(self.remove)  # (also when a caller of ui.server.start forgets close)

    def job(self) -> Path:
        """A new folder for one job's input and outputs."""
        folder = self.root / "jobs" / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True)
        return folder

    def take(self, upload: str | Path) -> Path:
        """The uploaded file, under its own name in a new job folder (the jobs name their
        outputs after their inputs); a file over the stated limit is refused in one line."""
        upload = Path(upload)
        size = upload.stat().st_size
        if size > self.max_upload_mb * MEGABYTE:
            raise InputError(upload.name, f"{size / MEGABYTE:.0f} MB is more than the upload "
                                          f"limit of {self.max_upload_mb} MB")
        dst = self.job() / "in" / upload.name
        dst.parent.mkdir()
        shutil.copyfile(upload, dst)
        return dst

    def short(self, message: str) -> str:
        """``message`` with paths inside the workspace cut to their file names (the user
        never saw those folders)."""
        return re.sub(re.escape(str(self.root)) + r"/(?:[^\s:]*/)?", "", message)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
