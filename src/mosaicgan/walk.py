"""Which files a command works on: files and folders (searched recursively) expanded into
inputs, each with the name its outputs take, and a line for everything left out.

Nothing is left out silently: a missing path, a path given twice, a file of a kind the
command does not read, a hidden file, an output folder inside an input folder and the
files mosaicgan wrote there (listed in its record, :data:`RECORD_NAME`) each get a line.
Light: no torch, no av.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError
from .imageio import IMAGE_SUFFIXES

# What a batch wrote into an output folder: one JSON line per output (see jobs/batch.py).
# Files listed there are never taken as inputs when the folder is searched.
RECORD_NAME = ".mosaicgan-written.jsonl"


@dataclass
class Found:
    """Inputs found, as ``(path, name)``: name is the file's own name for a file given, or
    its path relative to the folder given. ``missing``: paths that name nothing (failures);
    ``notes``: one line for each thing left out on purpose."""

    inputs: list[tuple[Path, Path]] = field(default_factory=list)
    missing: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def recorded_outputs(folder: Path) -> set[Path]:
    """The files the record in ``folder`` lists (resolved), or none."""
    record = folder / RECORD_NAME
    try:
        lines = record.read_text().splitlines()
    except OSError:
        return set()
    found = set()
    for line in lines:
        try:
            found.add((folder / json.loads(line)["path"]).resolve())
        except (ValueError, KeyError, TypeError):
            continue  # a torn or foreign line: the record is advisory here
    return found


def find_inputs(inputs: Iterable[str | Path], suffixes: frozenset[str] = IMAGE_SUFFIXES,
                exclude: Iterable[Path] = ()) -> Found:
    """Expand files and folders into inputs.

    A file given is taken whatever its suffix (a bad file gets its own message when it is
    read). In a folder, files with one of ``suffixes`` are taken; the others, hidden
    files, the folders in ``exclude`` (output folders) and the files mosaicgan's records
    list are left out with a line. A path given twice (or a file also found in a folder
    given) is taken once, with a line.
    """
    found = Found()
    seen: dict[Path, Path] = {}
    excluded = [Path(p).resolve() for p in exclude]
    what = "images" if suffixes == IMAGE_SUFFIXES else "images or videos"

    def take(path: Path, name: Path, given: Path) -> None:
        key = path.resolve()
        if key in seen:
            found.notes.append(f"{path}: given twice (also as {seen[key]}); processed once")
            return
        seen[key] = given
        found.inputs.append((path, name))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            before = len(found.inputs)
            # An output folder inside this one is not searched; one that is this folder
            # (or holds it) is: its own outputs are left out by its record.
            inside = [e for e in excluded if path.resolve() in e.parents]
            _walk(path, suffixes, inside, found, take)
            if len(found.inputs) == before:
                found.missing.append((path, f"folder holds no {what} "
                                            f"({', '.join(sorted(suffixes))})"))
        elif path.exists():
            take(path, Path(path.name), path)
        else:
            found.missing.append((path, "no such file or folder"))
    return found


def _walk(folder: Path, suffixes: frozenset[str], excluded: list[Path], found: Found,
          take) -> None:
    paths = sorted(folder.rglob("*"))
    ours: set[Path] = set()
    for record in [folder / RECORD_NAME, *(p for p in paths if p.name == RECORD_NAME)]:
        ours |= recorded_outputs(record.parent)
    hidden = written = 0
    for path in paths:
        resolved = path.resolve()
        if resolved in excluded:
            found.notes.append(f"{path}: an output folder inside the input folder {folder}; "
                               "not searched")
        if path.is_dir() or not path.is_file() or \
                any(e == resolved or e in resolved.parents for e in excluded):
            continue
        if resolved in ours:
            written += 1
        elif any(part.startswith(".") for part in path.relative_to(folder).parts):
            hidden += 1
        elif path.suffix.lower() not in suffixes:
            found.notes.append(f"{path}: skipped, not a kind of file this command reads "
                               f"({path.suffix or 'no suffix'})")
        else:
            take(path, path.relative_to(folder), folder)
    if written:
        found.notes.append(f"{folder}: {written} file(s) that mosaicgan wrote (listed in its "
                           f"{RECORD_NAME}) not taken as inputs")
    if hidden:
        found.notes.append(f"{folder}: {hidden} hidden file(s) (names starting with '.') "
                           "skipped")


def list_images_named(inputs: Iterable[str | Path],
                      suffixes: frozenset[str] = IMAGE_SUFFIXES) -> list[tuple[Path, Path]]:
    """Inputs as ``(path, name)`` for a job that needs them all (a dataset): a missing
    path or a folder with none raises InputError."""
    found = find_inputs(inputs, suffixes)
    if found.missing:
        path, problem = found.missing[0]
        raise InputError(path, problem)
    return found.inputs


def list_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Image paths in files and folders (recursively, sorted); see :func:`list_images_named`."""
    return [path for path, _ in list_images_named(inputs)]
