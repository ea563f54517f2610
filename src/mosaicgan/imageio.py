"""Reading and writing images and masks, atomically; image arrays <-> tensors.

Arrays here are ``(H, W, 3)`` uint8 RGB; masks are ``(H, W)`` bool. Tensors follow the
project convention: images ``(B, 3, H, W)`` float in [0, 1], masks ``(B, 1, H, W)`` bool.
This is the only module (with ``video.py``) that touches image files.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from . import exif
from .errors import InputError
from .limits import default_max_pixels

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif",
                            ".avif", ".heic", ".heif"})
pillow_heif.register_heif_opener()  # HEIC/HEIF for Image.open and save (AVIF is Pillow's)
METADATA_KEY = "mosaicgan"  # PNG text chunk holding what mosaicgan did to the image
# Images with more pixels are refused (a PNG header can claim 30000 x 30000: decoding it
# would take gigabytes); set_max_pixels raises it for users who mean it. The default is
# what this machine's memory holds for a job, at most Pillow's 89.5 MP (mosaicgan.limits).
DEFAULT_MAX_PIXELS = default_max_pixels()
_max_pixels = DEFAULT_MAX_PIXELS


_pillow_limit = threading.Lock()


def set_max_pixels(limit: int = DEFAULT_MAX_PIXELS) -> None:
    """Refuse images of more than ``limit`` pixels (default: what the machine's memory
    holds, at most Pillow's 89.5 million: :func:`mosaicgan.limits.default_max_pixels`)."""
    global _max_pixels
    if limit < 1:
        raise ValueError(f"the pixel limit must be at least 1, got {limit}")
    _max_pixels = limit


def max_pixels() -> int:
    """The pixel limit in force now (:func:`set_max_pixels`; read when it is used)."""
    return _max_pixels


def _open(path: Path) -> Image.Image:
    """Image.open with our pixel limit instead of Pillow's (it only reads the header)."""
    with _pillow_limit:
        before, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = before
    width, height = im.size
    if width * height > _max_pixels:
        im.close()
        raise InputError(path, f"{width}x{height} is {width * height:,} pixels, more than the "
                               f"limit of {_max_pixels:,} (--max-pixels raises it)")
    return im


@dataclass(frozen=True)
class ImageForm:
    """What an image file held besides its RGB pixels, so a result is written back in the
    same form: ``mode`` is Pillow's (RGB, RGBA, L, LA, P, PA, ...), ``alpha`` the file's
    alpha channel (or None), ``deep`` whether its samples had more than 8 bits."""

    mode: str
    alpha: np.ndarray | None
    deep: bool


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB, upright per its EXIF orientation.

    Grey, palette, alpha and 16-bit files are converted (16-bit scaled to 8 bits, alpha
    dropped): :func:`read_image_form` also says what they held.
    """
    return read_image_form(path)[0]


def read_image_form(path: str | Path) -> tuple[np.ndarray, ImageForm]:
    """The image as ``(H, W, 3)`` uint8 RGB, and what :func:`write_like` needs to write a
    result back in the file's own form (alpha, grey, palette; 16-bit is only reported)."""
    path = Path(path)
    with _reading(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _open(path) as im:
            return _frame_form(im)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """What reading an image file raises, as one InputError naming the file."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not an image") from None
    except UnidentifiedImageError:
        raise InputError(path, "not an image file, or a format Pillow cannot read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(path, f"corrupt or truncated image ({exc})") from None


def _frame_form(im: Image.Image) -> tuple[np.ndarray, ImageForm]:
    """The current frame of an open image, upright, and its form (see read_image_form)."""
    rawmode = im.tile[0][3] if im.tile else ""
    deep = im.mode in ("I;16", "I;16B", "I;16L", "I", "F") or ";16" in str(rawmode)
    im.load()
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        im = im.point(lambda v: v / 256).convert("L")
    alpha = None
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        alpha = np.array(im.convert("RGBA"))[..., 3]
    return np.array(im.convert("RGB")), ImageForm(im.mode, alpha, deep)


def write_like(path: str | Path, rgb: np.ndarray, form: ImageForm,
               metadata: dict[str, Any] | None = None) -> Path:
    """Write ``rgb`` (H, W, 3) uint8 in the form of the file it came from: grey stays grey
    (an unchanged grey pixel is written back exactly), the alpha channel is kept as it
    was, a palette image is written as RGB (the same colours). 16-bit files are refused
    by the jobs before they get here."""
    image: np.ndarray = rgb
    if form.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L"):
        image = np.array(Image.fromarray(rgb).convert("L"))
    if form.alpha is not None and Path(path).suffix.lower() not in (".jpg", ".jpeg", ".bmp"):
        channels = image[..., None] if image.ndim == 2 else image
        image = np.concatenate([channels, form.alpha[..., None]], axis=2)
    return write_image(path, image, metadata)


def read_mask(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a mask image as ``(H, W)`` bool (pixels > 127 are set).

    size: the expected (width, height); a mask of another size raises InputError.
    """
    gray = read_image(path).max(axis=2)
    if size is not None and (gray.shape[1], gray.shape[0]) != tuple(size):
        raise InputError(path, f"mask is {gray.shape[1]}x{gray.shape[0]}, "
                               f"the image is {size[0]}x{size[1]}")
    return gray > 127


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The mosaicgan metadata written into a PNG by :func:`write_image` (or into the EXIF
    UserComment of another format, :mod:`mosaicgan.imagefile`), or None."""
    with Image.open(path) as im:
        text = getattr(im, "text", {}).get(METADATA_KEY)
        if text is None:
            comment = exif.user_comment(im.info.get("exif"))
            text = comment if comment and comment.startswith('{"tool": "mosaicgan"') else None
    return None if text is None else json.loads(text)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Like mkstemp, but created with mode 0666 so the umask gives the usual file mode
    # (mkstemp's files are private, 0600).
    while True:
        tmp_path = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        try:
            os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_image(path: str | Path, image: np.ndarray, metadata: dict[str, Any] | None = None,
                jpeg_quality: int = 95) -> Path:
    """Write ``(H, W)``, ``(H, W, 2)`` (grey + alpha), ``(H, W, 3)`` or ``(H, W, 4)`` (RGBA)
    uint8 atomically; the format follows the suffix.

    metadata goes into a PNG text chunk (ignored for other formats).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise InputError(path, f"unknown image suffix {suffix!r}")
    im = Image.fromarray(np.ascontiguousarray(image))
    kwargs: dict[str, Any] = {}
    if suffix == ".png":
        kwargs["format"] = "PNG"
        if metadata is not None:
            info = PngImagePlugin.PngInfo()
            info.add_text(METADATA_KEY, json.dumps(metadata))
            kwargs["pnginfo"] = info
    elif suffix in (".jpg", ".jpeg"):
        kwargs.update(format="JPEG", quality=jpeg_quality)
    else:
        kwargs["format"] = Image.registered_extensions()[suffix]
    with atomic_path(path) as tmp:
        im.save(tmp, **kwargs)
    return path


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2) + "\n")


def encode_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """Round-trip an ``(H, W, 3)`` uint8 array through JPEG at ``quality`` (in memory)."""
    import io

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))


# --- arrays <-> tensors -------------------------------------------------------------------

def to_tensor(image: np.ndarray):
    """``(H, W, 3)`` uint8 -> ``(1, 3, H, W)`` float32 in [0, 1]."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255


def mask_to_tensor(mask: np.ndarray):
    """``(H, W)`` bool -> ``(1, 1, H, W)`` bool."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(mask, dtype=bool))[None, None]


def to_image(tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8 (rounded)."""
    t = tensor.detach().float()
    if t.dim() == 4:
        t = t[0]
    return (t.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
