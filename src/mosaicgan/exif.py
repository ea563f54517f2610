"""EXIF filtered by the output's metadata policy, on the raw bytes (a TIFF structure).

Pillow's ``Image.Exif`` round-trip rewrites values and cannot always write back what it
read; here the entries we keep are copied byte for byte and only the directories'
offsets are recomputed. What ``safe`` drops (:data:`SAFE_DROPPED`): the GPS directory
(where the photo was taken), the body, lens and camera serial numbers and the maker note
(which holds them in the maker's own format, so it cannot be filtered), the owner's and
artist's names (Artist, CameraOwnerName, XPAuthor: they name a person), the embedded
XMP, IPTC and Photoshop blocks (free-form, may hold places and names), SubIFDs and the
thumbnail (IFD1: it shows what the output hides). Everything else is kept, capture time
and camera model included; so is the Copyright notice (a rights statement, not a fact
about anyone in the picture).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

HEADER = b"Exif\x00\x00"  # how JPEG (APP1) and Pillow's info["exif"] carry it

EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
ORIENTATION, USER_COMMENT = 0x0112, 0x9286
THUMB_AT, THUMB_SIZE = 0x0201, 0x0202  # IFD1: where the thumbnail JPEG is, its length
# tag -> why ``safe`` drops it
SAFE_DROPPED = {
    GPS_IFD: "location",
    0x013B: "artist's name",            # Artist
    0x9C9D: "author's name",            # XPAuthor (Windows)
    0xA430: "owner's name",             # CameraOwnerName
    0xA431: "body serial number",       # BodySerialNumber
    0xA435: "lens serial number",       # LensSerialNumber
    0xC62F: "camera serial number",     # CameraSerialNumber (DNG)
    0x927C: "maker note (serial numbers, in the maker's format)",
    0x02BC: "XMP (may hold places and names)",
    0x83BB: "IPTC (may hold places and names)",
    0x8649: "Photoshop resources (IPTC, thumbnails)",
    0x014A: "SubIFDs (previews)",
}
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_POINTERS = (EXIF_IFD, GPS_IFD, INTEROP_IFD)


@dataclass
class Entry:
    tag: int
    type: int
    count: int
    value: bytes = b""  # the raw value, in the file's byte order
    sub: list[Entry] | None = None  # the directory a pointer tag points to


@dataclass
class Directory:
    order: str  # "<" (II) or ">" (MM)
    entries: list[Entry] = field(default_factory=list)
    thumbnail_ifd: list[Entry] = field(default_factory=list)  # IFD1
    thumbnail: bytes = b""  # the JPEG IFD1 points to


class ExifError(ValueError):
    """The bytes are not a TIFF structure we can read."""


def parse(data: bytes) -> Directory:
    """IFD0 of raw EXIF (with or without the ``Exif\\0\\0`` header), its pointed-to
    directories as ``Entry.sub``."""
    tiff = data[len(HEADER):] if data.startswith(HEADER) else data
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        raise ExifError("not a TIFF header")
    order = "<" if tiff[:2] == b"II" else ">"
    (first,) = struct.unpack(order + "I", tiff[4:8])
    entries, next_offset = _read_ifd(tiff, order, first, depth=0)
    directory = Directory(order, entries)
    if next_offset:
        try:
            directory.thumbnail_ifd = _read_ifd(tiff, order, next_offset, depth=1)[0]
        except (ExifError, struct.error):
            return directory  # an unreadable IFD1 is left out
        at, size = (_find(directory.thumbnail_ifd, tag) for tag in (THUMB_AT, THUMB_SIZE))
        if at is not None and size is not None:
            start, length = (_number(e, order) for e in (at, size))
            directory.thumbnail = tiff[start:start + length]
    return directory


def _number(entry: Entry, order: str) -> int:
    kind = "H" if entry.type == 3 else "I"
    return struct.unpack(order + kind, entry.value[:struct.calcsize(kind)])[0]


def _read_ifd(tiff: bytes, order: str, offset: int, depth: int) -> tuple[list[Entry], int]:
    if depth > 3 or offset + 2 > len(tiff):
        raise ExifError("bad directory offset")
    (count,) = struct.unpack(order + "H", tiff[offset:offset + 2])
    entries = []
    for i in range(count):
        at = offset + 2 + 12 * i
        if at + 12 > len(tiff):
            raise ExifError("directory runs past the end")
        tag, kind, n = struct.unpack(order + "HHI", tiff[at:at + 8])
        size = _SIZES.get(kind, 1) * n
        if size <= 4:
            value = tiff[at + 8:at + 8 + size]
        else:
            (where,) = struct.unpack(order + "I", tiff[at + 8:at + 12])
            if where + size > len(tiff):
                raise ExifError(f"tag {tag:#x} runs past the end")
            value = tiff[where:where + size]
        entry = Entry(tag, kind, n, value)
        if tag in _POINTERS and kind in (4, 13) and n == 1:
            (where,) = struct.unpack(order + "I", value)
            entry.sub = _read_ifd(tiff, order, where, depth + 1)[0]
        entries.append(entry)
    end = offset + 2 + 12 * count
    next_offset = struct.unpack(order + "I", tiff[end:end + 4])[0] if end + 4 <= len(tiff) else 0
    return entries, next_offset


def serialize(directory: Directory, header: bool = True) -> bytes:
    """The TIFF structure of ``directory`` (IFD1 and its thumbnail too, where it has
    them), prefixed with ``Exif\\0\\0``."""
    order = directory.order
    out = bytearray((b"II*\x00" if order == "<" else b"MM\x00*") + struct.pack(order + "I", 8))
    next_at = _write_ifd(out, order, directory.entries)
    if directory.thumbnail_ifd:
        if len(out) % 2:
            out.append(0)
        struct.pack_into(order + "I", out, next_at, len(out))
        entries = [e for e in directory.thumbnail_ifd if e.tag not in (THUMB_AT, THUMB_SIZE)]
        if directory.thumbnail:
            entries += [Entry(THUMB_AT, 4, 1, b"\x00" * 4),
                        Entry(THUMB_SIZE, 4, 1, struct.pack(order + "I", len(directory.thumbnail)))]
        _write_ifd(out, order, entries)
        if directory.thumbnail:
            at = _offset_of(out, order, next_at, THUMB_AT)
            struct.pack_into(order + "I", out, at, len(out))
            out.extend(directory.thumbnail)
    return (HEADER if header else b"") + bytes(out)


def _offset_of(out: bytearray, order: str, pointer_at: int, tag: int) -> int:
    """Where the value of ``tag`` lies in the directory that ``pointer_at`` points to."""
    (start,) = struct.unpack_from(order + "I", out, pointer_at)
    (count,) = struct.unpack_from(order + "H", out, start)
    for i in range(count):
        if struct.unpack_from(order + "H", out, start + 2 + 12 * i)[0] == tag:
            return start + 2 + 12 * i + 8
    raise ExifError(f"tag {tag:#x} not written")


def _write_ifd(out: bytearray, order: str, entries: list[Entry]) -> int:
    """Append a directory; returns where its next-IFD offset is (left 0)."""
    entries = sorted(entries, key=lambda e: e.tag)
    start = len(out)
    table = start + 2
    data_at = table + 12 * len(entries) + 4
    out.extend(b"\x00" * (data_at - start))
    struct.pack_into(order + "H", out, start, len(entries))
    for i, entry in enumerate(entries):
        at = table + 12 * i
        struct.pack_into(order + "HHI", out, at, entry.tag, entry.type, entry.count)
        if entry.sub is not None:
            continue  # its offset is known once the values are written
        if len(entry.value) <= 4:
            out[at + 8:at + 12] = entry.value.ljust(4, b"\x00")
        else:
            if len(out) % 2:
                out.append(0)  # values start on a word boundary
            struct.pack_into(order + "I", out, at + 8, len(out))
            out.extend(entry.value)
    for i, entry in enumerate(entries):
        if entry.sub is not None:
            if len(out) % 2:
                out.append(0)
            struct.pack_into(order + "I", out, table + 12 * i + 8, len(out))
            _write_ifd(out, order, entry.sub)
    return data_at - 4


def _drop(entries: list[Entry]) -> tuple[list[Entry], bool]:
    kept, dropped = [], False
    for entry in entries:
        if entry.tag in SAFE_DROPPED:
            dropped = True
            continue
        if entry.sub is not None:
            entry.sub, below = _drop(entry.sub)
            dropped = dropped or below
        kept.append(entry)
    return kept, dropped


def _find(entries: list[Entry], tag: int) -> Entry | None:
    return next((e for e in entries if e.tag == tag), None)


def orientation(data: bytes | None) -> int:
    """The orientation tag (1..8; 1 when absent or unreadable)."""
    if not data:
        return 1
    try:
        directory = parse(data)
    except (ExifError, struct.error):
        return 1
    entry = _find(directory.entries, ORIENTATION)
    if entry is None or entry.type != 3 or len(entry.value) < 2:
        return 1
    value = struct.unpack(directory.order + "H", entry.value[:2])[0]
    return value if 1 <= value <= 8 else 1


def filtered(data: bytes | None, policy: str, *, orientation: int | None = None,
             comment: str | None = None) -> bytes | None:
    """``data`` (raw EXIF, ``Exif\\0\\0`` header optional) as ``policy`` keeps it, in the
    same byte order; the input's own bytes when nothing is dropped or set.

    policy: ``keep`` (all), ``safe`` (all but :data:`SAFE_DROPPED` and the thumbnail),
    ``strip`` (none). orientation: set the orientation tag (None: leave it; 1 under
    ``strip``, where it is dropped with the rest). comment: set the UserComment (ASCII)
    -- mosaicgan's record of what it did, in formats without PNG text chunks.
    EXIF that cannot be parsed is kept whole under ``keep`` and dropped under ``safe``
    (what cannot be read cannot be filtered).
    """
    if policy not in ("keep", "safe", "strip"):
        raise ValueError(f"unknown metadata policy {policy!r}")
    if policy == "strip" or not data:
        directory = Directory("<")
        changed = True
    else:
        try:
            directory = parse(data)
        except (ExifError, struct.error):
            return data if policy == "keep" and orientation is None and comment is None \
                else None
        changed = False
        if policy == "safe":
            directory.entries, changed = _drop(directory.entries)
            changed = changed or bool(directory.thumbnail_ifd)
            directory.thumbnail_ifd, directory.thumbnail = [], b""
    if orientation is not None and policy != "strip":
        current = _find(directory.entries, ORIENTATION)
        value = struct.pack(directory.order + "H", orientation) + b"\x00\x00"
        if current is None:
            if orientation != 1:
                directory.entries.append(Entry(ORIENTATION, 3, 1, value[:2]))
                changed = True
        elif current.value[:2] != value[:2]:
            current.type, current.count, current.value = 3, 1, value[:2]
            changed = True
    if comment is not None:
        exif_ifd = _find(directory.entries, EXIF_IFD)
        if exif_ifd is None:
            exif_ifd = Entry(EXIF_IFD, 4, 1, b"\x00" * 4, sub=[])
            directory.entries.append(exif_ifd)
        assert exif_ifd.sub is not None
        exif_ifd.sub = [e for e in exif_ifd.sub if e.tag != USER_COMMENT]
        text = b"ASCII\x00\x00\x00" + comment.encode("ascii", "replace")
        exif_ifd.sub.append(Entry(USER_COMMENT, 7, len(text), text))
        changed = True
    if not directory.entries:
        return None
    if not changed and data:
        return data if data.startswith(HEADER) else HEADER + data
    return serialize(directory)


def user_comment(data: bytes | None) -> str | None:
    """The ASCII UserComment of raw EXIF, or None."""
    if not data:
        return None
    try:
        directory = parse(data)
    except (ExifError, struct.error):
        return None
    exif_ifd = _find(directory.entries, EXIF_IFD)
    entry = None if exif_ifd is None or exif_ifd.sub is None else _find(exif_ifd.sub,
                                                                         USER_COMMENT)
    if entry is None or not entry.value.startswith(b"ASCII\x00\x00\x00"):
        return None
    return entry.value[8:].rstrip(b"\x00").decode("ascii", "replace")
