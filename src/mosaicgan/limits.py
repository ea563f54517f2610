"""How many pixels an input may have by default: as many as this machine's memory holds
for the job that needs the most per pixel.

A PNG of a few hundred kB can claim 88 million pixels; decoding and working on it takes
memory in proportion. The default limit is the memory available now divided by the peak
a job needs per pixel, so that one upload cannot exhaust the machine, and never more than
Pillow's own limit.
"""

from __future__ import annotations

import os
from pathlib import Path

# Peak resident memory per pixel of `mosaicgan restore` finding the mosaics itself, the
# heaviest job per pixel (find-mosaic looks at the whole image; a box mosaic takes ~4, a
# restore with --mask ~10 since issue 22): the process's peak was 845 MB on a 6 MP PNG and
# 2727 MB on a 24 MP one (AMD EPYC, 2 cores, torch 2.13 CPU), 105 B/px between them.
BYTES_PER_PIXEL = 105
# What a job holds whatever the image's size (torch, the model, the detectors: ~0.75 GB
# measured for restore), kept aside before dividing.
RESERVE = 1 << 30
PILLOW_MAX_PIXELS = 89_478_485  # Pillow's decompression-bomb limit: today's default
# Never below this (a 3000 x 2000 photo): a reading taken at a busy moment should not
# refuse ordinary photos; above it, the machine's memory decides.
MIN_PIXELS = 6_000_000

MEMINFO = Path("/proc/meminfo")
# (limit, usage) files of the process's memory cgroup: v2, then v1.
CGROUP_FILES = [
    (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory.current")),
    (Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
     Path("/sys/fs/cgroup/memory/memory.usage_in_bytes")),
]


def default_max_pixels() -> int:
    """The pixel limit for this machine now: (available memory - :data:`RESERVE`, 1 GiB)
    / :data:`BYTES_PER_PIXEL` (105: restore's measured peak per pixel), between
    :data:`MIN_PIXELS` (6 MP) and :data:`PILLOW_MAX_PIXELS` (89.5 MP, Pillow's, also when
    the memory cannot be read).

    The cap keeps today's limit where memory is plenty: it also bounds how long one
    image takes, and a larger image is one ``--max-pixels`` away. 16 GB available gives
    the cap; 4 GB gives 28 MP."""
    memory = available_memory()
    if memory is None:
        return PILLOW_MAX_PIXELS
    return max(MIN_PIXELS, min(PILLOW_MAX_PIXELS, (memory - RESERVE) // BYTES_PER_PIXEL))


def available_memory() -> int | None:
    """Bytes this process can use now: MemAvailable (Linux; else all physical memory),
    or less where a memory cgroup (a container's limit) leaves less. None if unknown."""
    base = _meminfo()
    found = [m for m in (base if base is not None else _physical(), _cgroup_room())
             if m is not None]
    return min(found) if found else None


def _meminfo() -> int | None:
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_room() -> int | None:
    for limit, usage in CGROUP_FILES:
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        if text == "max":
            return None
        try:
            used = int(usage.read_text().strip())
        except (OSError, ValueError):
            used = 0
        try:
            return max(0, int(text) - used)
        except ValueError:
            return None
    return None


def _physical() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
