"""An image file read whole (every frame or page, and what it takes to write it again)
and written back like its input: :func:`read_document`, :func:`write_document`.

What is kept:

- A file whose pixels come back unchanged is copied byte for byte when the metadata
  policy removes nothing from it (always under ``keep``); a JPEG, PNG or WebP whose
  policy removes something keeps its coded image data byte for byte (only metadata
  segments and chunks are dropped, :mod:`mosaicgan.containers`). Other formats are
  encoded again, as below. mosaicgan's record is not added to an unchanged file
  (nothing was done to it).
- A changed image keeps its format and encoding. JPEG: its quantisation tables, chroma
  subsampling and progressive mode, written in the file's stored orientation (the EXIF
  orientation tag kept), and, for 4:4:4 and 4:2:0, from the file's own decoded YCbCr
  planes outside the changed pixels, so the 8x8 blocks line up and pixels outside the
  regions stay within a level or two. WebP: lossless stays lossless (exact, invisible
  pixels too); lossy gets the quality whose encoding of the input is closest in size to
  the input's (the quality is not in the file). PNG and TIFF are lossless (TIFF: the
  first page's compression for every page). GIF: each frame's palette holds the colours
  of its unchanged pixels exactly, new colours take the slots left (or the nearest).
  AVIF and HEIC: quality :data:`LOSSY_QUALITY` (their encoder settings are not in the
  file). Animated GIF, WebP and PNG: every frame, their durations and loop count, GIF's
  disposal; multi-page TIFF and HEIF: every page.
- The ICC profile under every policy; grey stays grey; alpha is kept.
- Metadata per policy (:data:`mosaicgan.options.METADATA_POLICIES`): ``keep`` all the
  EXIF, XMP, comments and text the writer can carry; ``safe`` the EXIF without location,
  serial numbers, maker note, owner and artist names and thumbnail
  (:data:`mosaicgan.exif.SAFE_DROPPED`), no XMP, IPTC or comments, PNG text only in
  :data:`mosaicgan.containers.SAFE_TEXT`; ``strip`` none of it, and the orientation is
  applied to the pixels. Outside JPEG, a changed image is written upright (orientation
  tag 1). TIFF keeps only its descriptive tags (description, software, date and time,
  make, model, copyright; artist under ``keep``): its EXIF and GPS directories are not
  written back. AVIF and HEIC keep no thumbnails or depth images.
- mosaicgan's record of what it did (``metadata``): a PNG text chunk (``mosaicgan``);
  in JPEG, WebP, AVIF and HEIC the EXIF UserComment (ASCII JSON); TIFF and GIF carry
  none. :func:`mosaicgan.imageio.read_metadata` reads both.

Light: no torch, no av.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from . import containers, exif
from .errors import InputError
from .imageio import METADATA_KEY, ImageForm, _frame_form, _open, _reading, atomic_path

LOSSY_QUALITY = 90  # AVIF and HEIC: their encoder settings are not recorded in the file
ANIMATED = frozenset({"GIF", "WEBP", "PNG"})
# TIFF tags written back: what the image is and what made it (artist only under keep).
_TIFF_TEXT = {270: "description", 271: "make", 272: "model", 305: "software",
              306: "date_time", 33432: "copyright"}
_TIFF_ARTIST = 315
# EXIF orientation -> the transpose that makes a stored image upright (exif_transpose's),
# and the one that undoes it
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
            4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
            6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}
_STORED = {**_UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@dataclass
class ImageDocument:
    """An image file: its frames (``(H, W, 3)`` uint8 RGB, upright) and what
    :func:`write_document` needs to write them back in the file's form.

    format: Pillow's name (JPEG, PNG, WEBP, TIFF, GIF, AVIF, HEIF, BMP, ...); an MPO
    (a camera JPEG with secondary images) is read as its first image, a JPEG.
    forms: per frame, mode, alpha and bit depth. orientation: the EXIF orientation the
    frames were turned upright by. encoding: the encoder's settings (JPEG qtables,
    subsampling, progressive; WebP lossless; TIFF compression; dpi). pages: per frame,
    duration (ms) and disposal where the format has them.
    """

    path: Path
    data: bytes
    format: str
    frames: list[np.ndarray]
    forms: list[ImageForm]
    orientation: int = 1
    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    comment: bytes | None = None
    encoding: dict[str, Any] = field(default_factory=dict)
    pages: list[dict[str, Any]] = field(default_factory=list)
    loop: int | None = None
    tiff_tags: dict[int, Any] = field(default_factory=dict)

    @property
    def deep(self) -> bool:
        return any(form.deep for form in self.forms)

    @property
    def animated(self) -> bool:
        return len(self.frames) > 1 and self.format in ANIMATED


def read_document(path: str | Path) -> ImageDocument:
    """Read every frame or page of an image file (InputError for what cannot be read)."""
    path = Path(path)
    with _reading(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        data = path.read_bytes()
        with _open(path) as im:
            return _document(path, data, im)


def _document(path: Path, data: bytes, im: Image.Image) -> ImageDocument:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    count = 1 if fmt == "JPEG" else getattr(im, "n_frames", 1)
    raw_exif = im.info.get("exif")
    doc = ImageDocument(path, data, fmt, [], [], orientation=exif.orientation(raw_exif),
                        icc=im.info.get("icc_profile"), exif=raw_exif,
                        xmp=im.info.get("xmp") or None, comment=im.info.get("comment") or None,
                        text={}, loop=im.info.get("loop"))
    if fmt == "JPEG":
        doc.encoding = {"qtables": im.quantization, "layers": im.layer, "mode": im.mode,
                        "subsampling": JpegImagePlugin.get_sampling(im),
                        "progressive": bool(im.info.get("progressive"))}
    elif fmt == "WEBP":
        doc.encoding = {"lossless": containers.webp_is_lossless(data),
                        "background": im.info.get("background")}
    elif fmt == "TIFF":
        doc.encoding = {"compression": im.info.get("compression")}
        doc.tiff_tags = dict(im.tag_v2)
        doc.orientation = int(doc.tiff_tags.get(0x0112, 1) or 1)
        doc.exif = None  # TIFF's metadata is its tags (tiff_tags)
    if im.info.get("dpi"):
        doc.encoding["dpi"] = im.info["dpi"]
    for index in range(count):
        im.seek(index)
        rgb, form = _frame_form(im)
        doc.frames.append(rgb)
        doc.forms.append(form)
        page: dict[str, Any] = {}
        if im.info.get("duration") is not None:
            page["duration"] = im.info["duration"]
        if fmt == "GIF":
            page["disposal"] = getattr(im, "disposal_method", 0)
        if fmt == "TIFF":
            page["compression"] = im.info.get("compression")
        doc.pages.append(page)
    # (read last: a PNG's .text loads the image, which forgets the tile that says 16-bit)
    doc.text = dict(getattr(im, "text", {}) or {})
    return doc


def copy_image(src: str | Path, dst: str | Path) -> Path:
    """Copy an image file byte for byte, atomically."""
    data = Path(src).read_bytes()
    with atomic_path(dst) as tmp:
        tmp.write_bytes(data)
    return Path(dst)


def write_document(path: str | Path, frames: list[np.ndarray], doc: ImageDocument,
                   metadata: dict[str, Any] | None = None, policy: str = "safe") -> Path:
    """Write ``frames`` (``(H, W, 3)`` uint8 RGB, upright, one per frame of ``doc``) to
    ``path``, atomically, like ``doc``'s file (see the module's docstring): the same
    bytes when nothing changed, else its format and encoding. ``path``'s suffix chooses
    the format; another format than the input's is written plainly (lossless where the
    format is). policy: ``safe``, ``keep`` or ``strip`` (the input's metadata kept).
    metadata: mosaicgan's record (PNG text chunk, or EXIF UserComment)."""
    path = Path(path)
    if len(frames) != len(doc.frames):
        raise ValueError(f"{len(frames)} frames for a document of {len(doc.frames)}")
    fmt = format_of(path)
    if fmt == doc.format and all(np.array_equal(a, b) for a, b in zip(frames, doc.frames,
                                                                          strict=True)):
        data = _unchanged_bytes(doc, policy)
        if data is not None:
            with atomic_path(path) as tmp:
                tmp.write_bytes(data)
            return path
    record = None if metadata is None else json.dumps(metadata)
    with atomic_path(path) as tmp:
        _WRITERS.get(fmt, _write_plain)(tmp, fmt, frames, doc, record, policy)
    return path


def format_of(path: str | Path) -> str:
    """Pillow's format for ``path``'s suffix (InputError for an unknown one)."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None:
        raise InputError(path, f"unknown image suffix {suffix!r}")
    return "JPEG" if fmt == "MPO" else fmt


def _unchanged_bytes(doc: ImageDocument, policy: str) -> bytes | None:
    """The file's bytes as ``policy`` keeps them when its pixels are unchanged, or None
    where it must be encoded again."""
    if policy == "keep":
        return doc.data
    if policy == "strip" and doc.orientation != 1:
        return None  # the orientation goes into the pixels
    surgery = containers.filtered(doc.data, doc.format, policy)
    if surgery is not None:
        return surgery
    if doc.format == "TIFF":
        dropped = set(exif.SAFE_DROPPED) | {exif.EXIF_IFD}
        if policy == "strip":
            dropped |= set(_TIFF_TEXT) | {_TIFF_ARTIST}
        return None if dropped & set(doc.tiff_tags) else doc.data
    if doc.xmp or doc.comment:
        return None
    if policy == "strip":
        return None if doc.exif else doc.data
    return doc.data if exif.filtered(doc.exif, "safe") == _with_header(doc.exif) else None


def _with_header(data: bytes | None) -> bytes | None:
    if not data:
        return None
    return data if data.startswith(exif.HEADER) else exif.HEADER + data


# --- frames to Pillow images ---------------------------------------------------------------

def _image(rgb: np.ndarray, form: ImageForm, alpha_ok: bool = True) -> Image.Image:
    """The frame in its file's mode: grey stays grey, alpha is put back (where the size
    still matches), a palette image is RGB(A)."""
    im = Image.fromarray(np.ascontiguousarray(rgb))
    if form.mode in ("L", "LA", "I", "I;16", "I;16B", "I;16L", "1"):
        im = im.convert("L")
    if alpha_ok and form.alpha is not None and form.alpha.shape == rgb.shape[:2]:
        im.putalpha(Image.fromarray(form.alpha))
    return im


def _stored(im: Image.Image, orientation: int) -> Image.Image:
    """An upright frame turned back to how a file with ``orientation`` stores it."""
    method = _STORED.get(orientation)
    return im if method is None else im.transpose(method)


def _out_exif(doc: ImageDocument, policy: str, record: str | None,
              orientation: int | None) -> bytes | None:
    return exif.filtered(doc.exif, policy, orientation=orientation, comment=record)


def _durations(doc: ImageDocument) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    durations = [page.get("duration") for page in doc.pages]
    if any(d is not None for d in durations):
        kwargs["duration"] = [int(d or 0) for d in durations]
    if doc.loop is not None:
        kwargs["loop"] = doc.loop
    return kwargs


def _common(doc: ImageDocument, policy: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if doc.icc:
        kwargs["icc_profile"] = doc.icc
    if doc.encoding.get("dpi"):
        kwargs["dpi"] = doc.encoding["dpi"]
    if policy == "keep" and doc.xmp:
        kwargs["xmp"] = doc.xmp
    return kwargs


def _upright(doc: ImageDocument, policy: str, record: str | None) -> dict[str, Any]:
    """:func:`_common` and the EXIF of an output written upright (orientation 1)."""
    kwargs = _common(doc, policy)
    raw_exif = _out_exif(doc, policy, record, 1)
    if raw_exif:
        kwargs["exif"] = raw_exif
    return kwargs


# --- per format ----------------------------------------------------------------------------

def _write_jpeg(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
                record: str | None, policy: str) -> None:
    same = doc.format == "JPEG"
    orientation = doc.orientation if same and policy != "strip" else 1
    kwargs = _common(doc, policy)
    raw_exif = _out_exif(doc, policy, record, None if orientation == doc.orientation else 1)
    if raw_exif:
        kwargs["exif"] = raw_exif
    if policy == "keep" and doc.comment:
        kwargs["comment"] = doc.comment
    im = _image(frames[0], doc.forms[0], alpha_ok=False)
    if not same or doc.encoding["mode"] not in ("RGB", "L"):  # (CMYK is written as RGB)
        im.convert("RGB" if im.mode != "L" else "L").save(tmp, "JPEG", quality=95, **kwargs)
        return
    kwargs["qtables"] = doc.encoding["qtables"]
    sampling = doc.encoding["subsampling"]
    if sampling in (0, 1, 2):
        kwargs["subsampling"] = sampling
    if doc.encoding["progressive"]:
        kwargs["progressive"] = True
    stored = _stored(im, orientation)
    if im.mode == "RGB" and doc.encoding["mode"] == "RGB" and sampling in (0, 2) \
            and frames[0].shape == doc.frames[0].shape:
        planes = _jpeg_planes(doc, orientation, sampling)
        if planes is not None:
            before = np.asarray(_stored(Image.fromarray(doc.frames[0]), orientation))
            after = np.asarray(stored)
            changed = (before != after).any(axis=2)
            target = np.asarray(stored.convert("YCbCr"))
            ycc = np.where(changed[..., None], target, planes)
            stored = Image.fromarray(np.ascontiguousarray(ycc), "YCbCr")
    stored.save(tmp, "JPEG", **kwargs)


def _jpeg_planes(doc: ImageDocument, orientation: int, sampling: int) -> np.ndarray | None:
    """The file's own YCbCr, full size, in the orientation ``orientation`` stores it:
    luma as decoded, chroma at its coded resolution repeated over its pixels (so the
    encoder's averaging gets the coded chroma back, where libjpeg's smooth upsampling
    followed by that averaging would blur it). None where the decoder will not give it."""
    with Image.open(io.BytesIO(doc.data)) as full:
        full.draft("YCbCr", full.size)
        if full.mode != "YCbCr":
            return None
        planes = np.array(full)
        width, height = full.size
    if sampling == 2:
        with Image.open(io.BytesIO(doc.data)) as half:
            half.draft("YCbCr", (width // 2, height // 2))
            if half.size != ((width + 1) // 2, (height + 1) // 2):
                return None
            chroma = np.asarray(half)[..., 1:]
        planes[..., 1:] = chroma.repeat(2, 0).repeat(2, 1)[:height, :width]
    # the decoded planes are in the stored orientation; ``orientation`` 1 means upright
    if orientation != doc.orientation and doc.orientation in _UPRIGHT:
        planes = np.array(Image.fromarray(planes, "YCbCr").transpose(_UPRIGHT[doc.orientation]))
    return planes


def _write_png(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
               record: str | None, policy: str) -> None:
    kwargs = _common(doc, policy)
    kwargs.pop("xmp", None)  # PNG carries XMP as text (below)
    info = PngImagePlugin.PngInfo()
    for key, value in doc.text.items():
        kept = policy == "keep" or (policy == "safe" and key in containers.SAFE_TEXT)
        if kept and not (key == METADATA_KEY and record is not None):
            info.add_text(key, value)
    if record is not None:
        info.add_text(METADATA_KEY, record)
    kwargs["pnginfo"] = info
    raw_exif = _out_exif(doc, policy, None, 1)
    if raw_exif:
        kwargs["exif"] = raw_exif
    images = [_image(f, form) for f, form in zip(frames, doc.forms, strict=True)]
    if len(images) > 1:
        # composited frames, each replacing the last (disposal none, blend source)
        kwargs.update(save_all=True, append_images=images[1:], disposal=0, blend=0,
                      **_durations(doc))
    images[0].save(tmp, "PNG", **kwargs)


def _write_webp(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
                record: str | None, policy: str) -> None:
    kwargs = _upright(doc, policy, record)
    images = [_image(f, form) for f, form in zip(frames, doc.forms, strict=True)]
    lossless = doc.encoding.get("lossless", True) if doc.format == "WEBP" else True
    if lossless:
        kwargs.update(lossless=True, exact=True)
    else:
        kwargs["quality"] = webp_quality(doc)
    if len(images) > 1:
        kwargs.update(save_all=True, append_images=images[1:], **_durations(doc))
        if doc.encoding.get("background") is not None:
            kwargs["background"] = doc.encoding["background"]
    images[0].save(tmp, "WEBP", **kwargs)


def webp_quality(doc: ImageDocument) -> int:
    """The quality (0-100) whose encoding of the document's first frame is closest in
    size to that frame's VP8 data in the file (lossy WebP does not record its quality)."""
    target = _vp8_size(doc.data)
    frame = Image.fromarray(doc.frames[0])
    low, high = 0, 100
    while low < high:  # the size grows with the quality
        middle = (low + high) // 2
        buf = io.BytesIO()
        frame.save(buf, "WEBP", quality=middle)
        if _vp8_size(buf.getvalue()) < target:
            low = middle + 1
        else:
            high = middle
    return low


def _vp8_size(data: bytes) -> int:
    for kind, body in containers.webp_chunks(data):
        if kind == b"VP8 ":
            return len(body)
        if kind == b"ANMF":
            inner = containers.webp_chunks(b"RIFF\x00\x00\x00\x00WEBP" + body[16:])
            return sum(len(b) for k, b in inner if k == b"VP8 ")
    return len(data)


def _write_tiff(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
                record: str | None, policy: str) -> None:
    kwargs = _common(doc, policy)
    kwargs.pop("xmp", None)
    compression = doc.pages[0].get("compression") if doc.format == "TIFF" else None
    images = [_image(f, form) for f, form in zip(frames, doc.forms, strict=True)]
    if compression in ("group3", "group4", "tiff_ccitt", "tiff_raw_16"):
        compression = "tiff_lzw"  # bilevel codings: our frames are 8-bit
    if compression:
        kwargs["compression"] = compression
    info = TiffImagePlugin.ImageFileDirectory_v2()
    if policy != "strip":
        for tag in (*_TIFF_TEXT, *((_TIFF_ARTIST,) if policy == "keep" else ())):
            if isinstance(doc.tiff_tags.get(tag), str):
                info[tag] = doc.tiff_tags[tag]
    kwargs["tiffinfo"] = info
    if len(images) > 1:
        kwargs.update(save_all=True, append_images=images[1:])
    images[0].save(tmp, "TIFF", **kwargs)


def _write_gif(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
               record: str | None, policy: str) -> None:
    same = doc.format == "GIF"
    images = [_gif_frame(f, form, doc.frames[i] if same else None)
              for i, (f, form) in enumerate(zip(frames, doc.forms, strict=True))]
    kwargs: dict[str, Any] = {"optimize": False}
    if policy == "keep" and doc.comment:
        kwargs["comment"] = doc.comment
    if len(images) > 1:
        kwargs.update(save_all=True, append_images=images[1:], **_durations(doc))
        kwargs["disposal"] = [page.get("disposal", 0) for page in doc.pages]
    elif doc.pages and doc.pages[0].get("duration") is not None:
        kwargs["duration"] = doc.pages[0]["duration"]
    images[0].save(tmp, "GIF", **kwargs)


def _gif_frame(rgb: np.ndarray, form: ImageForm, before: np.ndarray | None) -> Image.Image:
    """A palette frame: the colours of the unchanged pixels exactly, the changed ones'
    colours in the slots left (their nearest palette colour beyond that); transparent
    pixels (alpha below 128) on one extra index."""
    transparent = (form.alpha < 128) if form.alpha is not None and \
        form.alpha.shape == rgb.shape[:2] else None
    slots = 256 - (transparent is not None and bool(transparent.any()))
    flat = rgb.reshape(-1, 3)
    changed = np.ones(len(flat), bool) if before is None or before.shape != rgb.shape \
        else (before != rgb).any(axis=2).ravel()
    kept = _unique(flat[~changed])
    new = _unique(flat[changed])
    if len(kept) > slots:  # more colours than a palette holds: Pillow's quantiser
        im = Image.fromarray(rgb).quantize(slots, dither=Image.Dither.NONE)
        palette = np.array(im.getpalette()[:3 * slots], np.uint8).reshape(-1, 3)
        index = np.asarray(im).ravel().astype(np.int64)
    else:
        extra = new[~_contains(kept, new)]
        room = slots - len(kept)
        if len(extra) > room:
            pixels = Image.fromarray(flat[changed][None])
            extra = (np.array(pixels.quantize(room, dither=Image.Dither.NONE).getpalette()
                              [:3 * room], np.uint8).reshape(-1, 3)) if room else extra[:0]
        palette = np.concatenate([kept, extra]).astype(np.uint8)
        index = _nearest(palette, flat)
    if slots < 256:
        index[transparent.ravel()] = len(palette)
        palette = np.concatenate([palette, np.zeros((1, 3), np.uint8)])
    im = Image.fromarray(index.reshape(rgb.shape[:2]).astype(np.uint8), "P")
    im.putpalette(palette.ravel().tolist())
    if slots < 256:
        im.info["transparency"] = len(palette) - 1
    return im


def _unique(colours: np.ndarray) -> np.ndarray:
    """The distinct rows of ``colours`` (N, 3) uint8 (np.unique on packed keys: fast)."""
    keys = np.unique(_keys(colours))
    return np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1).astype(np.uint8)


def _contains(palette: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Which of ``colours`` (N, 3) are in ``palette`` (M, 3)."""
    return np.isin(_keys(colours), _keys(palette))


def _keys(colours: np.ndarray) -> np.ndarray:
    c = colours.astype(np.int64)
    return (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]


def _nearest(palette: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """Each pixel's palette index: its own colour where the palette has it, else nearest."""
    keys, inverse = np.unique(_keys(pixels), return_inverse=True)
    colours = np.stack([keys >> 16, (keys >> 8) & 255, keys & 255], axis=1)
    best = np.empty(len(colours), np.int64)
    pal = palette.astype(np.int32)
    for start in range(0, len(colours), 4096):
        chunk = colours[start:start + 4096].astype(np.int32)
        distance = ((chunk[:, None, :] - pal[None]) ** 2).sum(axis=2)
        best[start:start + 4096] = distance.argmin(axis=1)
    return best[inverse.ravel()]


def _write_lossy(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
                 record: str | None, policy: str) -> None:
    """AVIF and HEIC: at :data:`LOSSY_QUALITY`, upright."""
    kwargs = _upright(doc, policy, record)
    images = [_image(f, form) for f, form in zip(frames, doc.forms, strict=True)]
    if len(images) > 1:
        kwargs.update(save_all=True, append_images=images[1:])
        if fmt == "AVIF":
            kwargs.update(_durations(doc))
    images[0].save(tmp, fmt, quality=LOSSY_QUALITY, **kwargs)


def _write_plain(tmp: Path, fmt: str, frames: list[np.ndarray], doc: ImageDocument,
                 record: str | None, policy: str) -> None:
    """Formats without settings to keep (BMP, ...): the first frame, Pillow's defaults."""
    alpha_ok = fmt not in ("BMP", "JPEG")
    _image(frames[0], doc.forms[0], alpha_ok).save(tmp, fmt)


_WRITERS = {"JPEG": _write_jpeg, "PNG": _write_png, "WEBP": _write_webp, "TIFF": _write_tiff,
            "GIF": _write_gif, "AVIF": _write_lossy, "HEIF": _write_lossy}
