"""Typed errors. Each one carries a message fit to print as one line for the user."""

from __future__ import annotations

from pathlib import Path


class MosaicganError(Exception):
    """Base class: something the user can fix, described in one line."""


class InputError(MosaicganError):
    """A bad input file or argument. The message names the file and the problem."""

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}" if path is not None else problem)


class Skip(InputError):
    """An input a job leaves out on purpose (an output the safety gate refused): a batch
    records it in ``skipped``, not in ``failed``."""


class ArgumentError(MosaicganError, ValueError):
    """A bad argument value (a block size of 0, an unknown style, ...).

    A ValueError too, so callers that only know the standard library can catch it.
    """


class ModelError(MosaicganError):
    """A missing, unreadable or mismatched model/checkpoint."""


class Cancelled(Exception):
    """A job stopped because its caller asked it to (``VideoOptions.cancel`` was set).
    Not a MosaicganError: a batch stops at once instead of going on to the next file."""
