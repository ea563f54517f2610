"""The restoration models shipped in the package (``weights/``): the default (faithful)
restorer and its sharp partner (see :mod:`mosaicgan.models.sharpness`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import InputError


def default_model() -> Path:
    """The restoration model shipped in the package (safetensors + JSON)."""
    return _shipped("restore.json", "this installation ships no default restoration model; "
                                    "give --model RUN_DIR")


def sharp_model() -> Path:
    """The shipped sharp restorer: the default one fine-tuned with a cGAN and a feature
    loss (the other end of the sharpness dial)."""
    return _shipped("restore_sharp.json", "this installation ships no sharp restoration "
                                          "model; --sharpness needs one")


def _shipped(name: str, missing: str) -> Path:
    path = Path(str(resources.files("mosaicgan").joinpath("weights", name)))
    if not path.is_file():
        raise InputError(None, missing)
    return path
