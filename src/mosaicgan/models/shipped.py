"""The restoration model shipped in the package (``weights/``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import InputError


def default_model() -> Path:
    """The restoration model shipped in the package (safetensors + JSON)."""
    path = Path(str(resources.files("mosaicgan").joinpath("weights", "restore.json")))
    if not path.is_file():
        raise InputError(None, "this installation ships no default restoration model; "
                               "give --model RUN_DIR")
    return path
