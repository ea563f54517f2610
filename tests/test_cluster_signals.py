"""A job that starts Ray itself (no instance running: a module of its own) gives the
caller's SIGTERM handler back."""

from __future__ import annotations

import pytest

from mosaicgan.imageio import write_image
from mosaicgan.options import ClusterOptions

from .conftest import photo

ray = pytest.importorskip("ray")


def quiet(_line: str) -> None:
    pass


def test_a_job_that_starts_ray_leaves_sigterm_to_its_caller(tmp_path):
    """The command line cleans up on SIGTERM as on Ctrl-C; ray.init takes the signal for
    itself (and keeps it after shutdown) unless the job gives it back."""
    import signal

    from mosaicgan.api import find_mosaic_files

    assert not ray.is_initialized()  # (this job starts its own instance, and stops it)
    write_image(tmp_path / "in" / "coffee.png", photo("coffee"))

    def mine(_signum, _frame):
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, mine)
    try:
        report = find_mosaic_files([tmp_path / "in"], tmp_path / "out",
                                   cluster=ClusterOptions(workers=1), log=quiet)
        assert len(report.written) == 1 and not ray.is_initialized()
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, before)
