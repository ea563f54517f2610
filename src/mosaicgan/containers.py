"""Metadata removed from a JPEG, PNG or WebP file without touching its coded image data:
segments and chunks are copied byte for byte, except those the output's metadata policy
drops (see :mod:`mosaicgan.exif` for what ``safe`` drops from EXIF).

Per container, what is kept besides the image data: the ICC profile and the colour and
format chunks under every policy; EXIF (filtered) under ``safe``; the rest (XMP, IPTC,
comments, text, maker segments, thumbnails, MPF's secondary images) only under ``keep``
(``safe`` keeps PNG text chunks in :data:`SAFE_TEXT` only: the others are free text
that may name anyone). Orientation is the caller's concern: under ``strip`` an EXIF
orientation other than 1 must be applied to the pixels, which these functions cannot do.
"""

from __future__ import annotations

import struct
import zlib

from . import exif

# PNG text chunks ``safe`` keeps: what made the file and when, and its rights notice.
SAFE_TEXT = frozenset({"Software", "Creation Time", "Copyright", "mosaicgan"})
# Colour, transparency, layout and animation: kept under every policy.
_PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB",
                       b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"hIST", b"sPLT", b"cICP", b"mDCv",
                       b"cLLi", b"acTL", b"fcTL", b"fdAT"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_WEBP_IMAGE = frozenset({b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})


class ContainerError(ValueError):
    """The file's structure is not what its format says."""


def filtered(data: bytes, format: str, policy: str) -> bytes | None:
    """``data`` (a whole file) with what ``policy`` drops removed; ``data`` itself when
    nothing is; None for formats not handled here (the caller re-encodes)."""
    handler = {"JPEG": jpeg_filtered, "PNG": png_filtered, "WEBP": webp_filtered}.get(format)
    if handler is None or policy == "keep":
        return None if handler is None else data
    try:
        return handler(data, policy)
    except (ContainerError, struct.error, IndexError):
        return None


# --- JPEG ---------------------------------------------------------------------------------

def jpeg_segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments before the first scan as (marker, whole segment bytes), and
    where the first SOS starts."""
    if data[:2] != b"\xff\xd8":
        raise ContainerError("no JPEG SOI")
    pos, segments = 2, []
    while True:
        if data[pos] != 0xFF:
            raise ContainerError(f"no marker at {pos}")
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:
            return segments, pos
        if marker in (0x01, *range(0xD0, 0xD8)):
            segments.append((marker, data[pos:pos + 2]))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segments.append((marker, data[pos:pos + 2 + length]))
        pos += 2 + length


def jpeg_end(data: bytes, sos: int) -> int:
    """Where the image's EOI ends (what follows, e.g. MPF's secondary images, is not it)."""
    pos = sos
    while pos < len(data) - 1:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xD9:
            return pos + 2
        if marker in (0x00, 0xFF, 0x01, *range(0xD0, 0xD8)):
            pos += 1 if marker == 0xFF else 2  # stuffed byte, fill, restart marker
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        pos += 2 + length  # a segment between scans (DHT, SOS, DQT, ...)
    return len(data)  # no EOI: keep everything (a decoder stops where it can)


def jpeg_filtered(data: bytes, policy: str) -> bytes:
    segments, sos = jpeg_segments(data)
    end = jpeg_end(data, sos)
    out, changed = [b"\xff\xd8"], end != len(data)
    for marker, segment in segments:
        body = segment[4:]
        keep: bytes | None = segment
        if marker == 0xE0:  # JFIF (its thumbnail, if any, cut) or JFXX (a thumbnail)
            if body.startswith(b"JFIF\x00") and len(body) >= 14:
                keep = segment[:4 + 12] + b"\x00\x00"
                keep = keep[:2] + struct.pack(">H", len(keep) - 2) + keep[4:]
            else:
                keep = None
        elif marker == 0xE1 and body.startswith(exif.HEADER):
            new = exif.filtered(body, policy)
            if new is None or len(new) + 2 > 0xFFFF:
                keep = None
            else:
                keep = b"\xff\xe1" + struct.pack(">H", len(new) + 2) + new
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            keep = segment
        elif marker == 0xEE and body.startswith(b"Adobe"):
            keep = segment  # the colour transform: decoding depends on it
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            keep = None  # XMP, IPTC, MPF, maker segments, comments
        if keep != segment:
            changed = True
        if keep is not None:
            out.append(keep)
    if not changed:
        return data
    out.append(data[sos:end])
    return b"".join(out)


# --- PNG ----------------------------------------------------------------------------------

def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, in order."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ContainerError("no PNG signature")
    pos, chunks = len(_PNG_SIGNATURE), []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    return chunks


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def png_filtered(data: bytes, policy: str) -> bytes:
    out, changed = [_PNG_SIGNATURE], False
    for kind, body in png_chunks(data):
        keep: bytes | None = body
        if kind in _PNG_KEPT:
            pass
        elif kind == b"tIME":
            keep = body if policy == "safe" else None
        elif kind == b"eXIf":
            new = exif.filtered(body, policy)
            keep = None if new is None else new.removeprefix(exif.HEADER)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            keyword = body.split(b"\x00", 1)[0].decode("latin-1")
            keep = body if policy == "safe" and keyword in SAFE_TEXT else None
        else:
            keep = None  # a chunk we do not know may hold anything
        if keep != body:
            changed = True
        if keep is not None:
            out.append(_png_chunk(kind, keep))
    return b"".join(out) if changed else data


# --- WebP ---------------------------------------------------------------------------------

def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ContainerError("no RIFF WEBP header")
    pos, chunks = 12, []
    while pos + 8 <= len(data):
        kind, length = struct.unpack("<4sI", data[pos:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 8 + length + (length & 1)
    return chunks


def webp_is_lossless(data: bytes) -> bool:
    """Whether the (first) frame is coded losslessly (VP8L), not with VP8."""
    for kind, body in webp_chunks(data):
        if kind == b"ANMF":
            return body[16:20] == b"VP8L"  # (ALPH first means VP8 follows)
        if kind in (b"VP8L", b"VP8 "):
            return kind == b"VP8L"
    return False


def webp_filtered(data: bytes, policy: str) -> bytes:
    chunks, changed, out = webp_chunks(data), False, []
    for kind, body in chunks:
        keep: bytes | None = body
        if kind == b"EXIF":
            new = exif.filtered(body, policy)
            # keep the file's own convention (with or without the Exif\0\0 header)
            if new is not None and not body.startswith(exif.HEADER):
                new = new.removeprefix(exif.HEADER)
            keep = new
        elif kind not in _WEBP_IMAGE:
            keep = None  # XMP and unknown chunks
        if keep != body:
            changed = True
        if keep is not None:
            out.append([kind, keep])
    if not changed:
        return data
    names = {kind for kind, _ in out}
    for item in out:
        if item[0] == b"VP8X":
            flags = item[1][0] & ~0x0C
            flags |= (0x08 if b"EXIF" in names else 0) | (0x04 if b"XMP " in names else 0)
            item[1] = bytes([flags]) + item[1][1:]
    body = b"WEBP" + b"".join(struct.pack("<4sI", kind, len(chunk)) + chunk
                              + (b"\x00" if len(chunk) & 1 else b"") for kind, chunk in out)
    return b"RIFF" + struct.pack("<I", len(body)) + body
