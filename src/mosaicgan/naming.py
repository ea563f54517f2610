"""How outputs are named: one rule for the command line and the web app.

An output keeps its input's name and format, with a suffix saying what was done (deface's
convention): ``cat.jpg`` -> ``cat_anonymised.jpg`` (mosaic), ``cat_restored.jpg``,
``cat_translated.jpg``. Files a job derives from an input (masks, overlays, region lists)
are named ``<stem>_<kind>.<ext>``: ``cat_mask.png`` (find-mosaic), ``cat_regions.png`` and
``cat_regions.json`` (mosaic --regions), ``cat_cam.png``, ``cat_cam_mask.png`` and
``cat_cam.json`` (cam). So an output never has its input's name: writing into the input's
own folder replaces nothing, and a download is never mistaken for the upload.

Light: no torch, no av.
"""

from __future__ import annotations

from pathlib import Path

# The suffix each job adds to the outputs that keep their input's format.
JOB_SUFFIXES = {"mosaic": "_anonymised", "restore": "_restored", "translate": "_translated"}
# Derived files: kind -> (suffix added to the stem, extension).
DERIVED = {
    "mask": ("_mask", ".png"),            # find-mosaic
    "regions": ("_regions", ".png"),      # mosaic --regions: the mask
    "regions_json": ("_regions", ".json"),  # mosaic --regions: the list
    "cam_overlay": ("_cam", ".png"),
    "cam_mask": ("_cam_mask", ".png"),
    "cam_json": ("_cam", ".json"),
}


def output_name(name: str | Path, job: str) -> Path:
    """The output of ``job`` (mosaic, restore, translate) for an input named ``name``
    (a file name or a relative path): same folder part, same extension, the job's suffix."""
    name = Path(name)
    try:
        suffix = JOB_SUFFIXES[job]
    except KeyError:
        raise ValueError(f"unknown job {job!r}; one of {', '.join(JOB_SUFFIXES)}") from None
    return name.with_name(f"{name.stem}{suffix}{name.suffix}")


def derived_name(name: str | Path, kind: str) -> Path:
    """A file derived from the input ``name``: ``<stem>_<kind>.<ext>`` (see :data:`DERIVED`)."""
    name = Path(name)
    try:
        suffix, ext = DERIVED[kind]
    except KeyError:
        raise ValueError(f"unknown derived file {kind!r}; one of {', '.join(DERIVED)}") \
            from None
    return name.with_name(f"{name.stem}{suffix}{ext}")
