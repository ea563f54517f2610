"""The pairs job: (clean, mosaic, mask) training pairs from clean photos, screened by the
safety gate; and unpairing an aligned A|B dataset for CycleGAN."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import safety
from ..data.paired import PAIRS_FILE
from ..data.synth import Pair, PairSpec, make_pair
from ..errors import ArgumentError, InputError, MosaicganError
from ..geometry import Box
from ..imageio import read_image, write_image, write_json, write_text
from ..options import Log, RegionSpec
from ..regions.choose import find_regions
from ..walk import list_images, list_images_named
from .batch import BatchReport


@dataclass
class PairsReport(BatchReport):
    pairs: dict[str, int] = field(default_factory=dict)  # split -> pairs written


def make_pairs(photos: str | Path | Iterable[str | Path], out_dir: str | Path, *,
               size: int = 256, per_image: int = 8, block: tuple[int, int] = (6, 24),
               val: float = 0.1, seed: int = 0, where: RegionSpec | None = None,
               log: Log = print,
               progress: bool = True) -> PairsReport:
    """Write (clean, mosaic, mask) PNG pairs and ``pairs.jsonl`` in ``train/`` and ``val/``.

    Photos are split between train and val by photo (never a crop of one photo in both).
    Every photo and every crop passes the safety screen: a photo with nudity is left out,
    and so is a crop with nudity or whose mosaic region overlaps a face (the restorer never
    learns to de-mosaic faces); each is named in ``skipped`` and counted.
    where: random regions (default) or ``RegionSpec("cam", target=...)``: crops around
    the class's CAM region; photos where it finds none are skipped. Faces and nudity are
    never training regions. The same seed gives the same bytes. An interrupted
    run, started again with the same settings, goes on from the photos it had finished.
    """
    if not 0 <= val < 1:
        raise ArgumentError(f"val must be in [0, 1), got {val}")
    if where is not None and where.where not in ("random", "cam"):
        raise ArgumentError(f"pairs take random or cam regions, not {where.where!r}: "
                         "faces and nudity are never restored, so never trained on")
    if block[0] < 1 or block[1] < block[0]:
        raise ArgumentError(f"block range {block[0]}-{block[1]} is not MIN-MAX with "
                            "1 <= MIN <= MAX")
    spec = PairSpec(size=size, block=block)
    sources = photos if isinstance(photos, list | tuple) else [photos]
    named = list_images_named(sources)
    files = [path for path, _ in named]
    out_dir = Path(out_dir)
    n_val = 0 if val == 0 or len(files) < 2 else max(1, round(val * len(files)))
    val_ids = set(np.random.default_rng(seed).choice(len(files), n_val, replace=False).tolist())
    settings = {"size": size, "per_image": per_image, "block": list(block), "val": val,
                "seed": seed, "where": None if where is None else where.__dict__,
                "photos": [n.as_posix() for _, n in named]}
    done = _pairs_progress(out_dir, settings)
    rows: dict[str, list[dict]] = {"train": [], "val": []}
    report = PairsReport()
    iterator: Iterable = enumerate(files)
    if progress:
        iterator = tqdm(iterator, total=len(files), unit="photo", desc="pairs")
    for i, src in iterator:
        record = done / f"{i:05d}.json"
        if record.is_file():  # made by an interrupted run with the same settings
            result = json.loads(record.read_text())
        else:
            result = _pairs_of_photo(i, src, named[i][1], out_dir,
                                     "val" if i in val_ids else "train", spec, per_image,
                                     seed, where)
            write_json(record, result)
        rows[result["split"]] += result["rows"]
        report.written += [out_dir / result["split"] / r["mosaic"] for r in result["rows"]]
        report.skipped += [tuple(x) for x in result["skipped"]]
        for message in result["failed"]:
            report.fail(src, message, log)
    for split, split_rows in rows.items():
        if split_rows:
            write_text(out_dir / split / PAIRS_FILE,
                       "".join(json.dumps(r, sort_keys=True) + "\n" for r in split_rows))
        report.pairs[split] = len(split_rows)
    shutil.rmtree(done)
    faces = sum("face" in reason for _, reason in report.skipped)
    if faces:
        log(f"pairs: {faces} crop(s) left out: their mosaic region would cover a face")
    if not rows["train"]:
        report.failed.append((str(out_dir), "no training pairs were written"))
    return report


def _pairs_progress(out_dir: Path, settings: dict[str, Any]) -> Path:
    """The folder recording finished photos, so an interrupted ``pairs`` run resumes.

    A folder left by a run with other settings is an error (its pairs would be mixed in).
    """
    done = out_dir / ".pairs-progress"
    saved = done / "settings.json"
    if saved.is_file() and json.loads(saved.read_text()) != json.loads(json.dumps(settings)):
        raise InputError(out_dir, "holds an interrupted `pairs` run with other settings; "
                                  "use the same settings to resume it, or another -o folder")
    write_json(saved, settings)
    return done


def _pairs_of_photo(i: int, src: Path, name: Path, out_dir: Path, split: str, spec: PairSpec,
                    per_image: int, seed: int, where: RegionSpec | None) -> dict[str, Any]:
    """Write one photo's pairs; return its rows and what was skipped or failed (JSON-ready)."""
    result: dict[str, Any] = {"split": split, "rows": [], "skipped": [], "failed": []}
    try:
        photo = read_image(src)
    except MosaicganError as exc:
        result["failed"].append(str(exc))
        return result
    if min(photo.shape[:2]) < 16:
        result["failed"].append(f"{src}: too small ({photo.shape[1]}x{photo.shape[0]})")
        return result
    if reasons := safety.screen_image(photo):
        result["skipped"].append([str(src), ", ".join(reasons)])
        return result
    faces = safety.face_boxes(photo)
    rng = np.random.default_rng([seed, i])
    region = None
    if where is not None and where.where == "cam":
        found = find_regions(photo, where)
        if not found.mask.any():
            result["skipped"].append([str(src), f"no {where.target} region (CAM)"])
            return result
        region = found.mask
    folder = out_dir / split
    for k in range(per_image):
        pair = make_pair(photo, rng, spec, region)
        if pair is None:
            continue
        if reasons := safety.screen_pair(pair.clean, pair.mask, _faces_in_crop(faces, pair)):
            result["skipped"].append([f"{src} (crop {k})", ", ".join(reasons)])
            continue
        stem = f"{i:05d}_{k:03d}"
        write_image(folder / f"{stem}_clean.png", pair.clean)
        write_image(folder / f"{stem}_mosaic.png", pair.mosaic)
        write_image(folder / f"{stem}_mask.png", pair.mask.astype(np.uint8) * 255)
        result["rows"].append({"id": stem, "source": name.as_posix(),
                               "clean": f"{stem}_clean.png", "mosaic": f"{stem}_mosaic.png",
                               "mask": f"{stem}_mask.png", **pair.params})
    return result


def _faces_in_crop(faces: list[Box], pair: Pair) -> list[Box]:
    """Face boxes of the whole photo in a pair's crop pixels (its params' scale and crop)."""
    scale = pair.params["scale"]
    x0, y0, _ = pair.params["crop"]
    return [(int(x * scale) - x0, int(y * scale) - y0, int(np.ceil(w * scale)) + 1,
             int(np.ceil(h * scale)) + 1) for x, y, w, h in faces]


def unpair_aligned(aligned: str | Path, out_dir: str | Path, *, seed: int = 0,
                   log: Log = print) -> BatchReport:
    """Turn an aligned A|B dataset into an unpaired one: for each split (train/, test/,
    or the folder itself as train), half the files give their left halves to ``<split>A/``
    and the other half their right halves to ``<split>B/``, so no A image has its B partner.
    """
    aligned, out_dir = Path(aligned), Path(out_dir)
    splits = [s for s in ("train", "test", "val") if (aligned / s).is_dir()] or [""]
    report = BatchReport()
    for split in splits:
        files = list_images([aligned / split])
        order = np.random.default_rng(seed).permutation(len(files))
        half = len(files) // 2
        name = split or "train"
        for rank, idx in enumerate(order):
            src = files[idx]
            try:
                image = read_image(src)
            except MosaicganError as exc:
                report.fail(src, exc, log)
                continue
            w = image.shape[1] // 2
            side, part = ("A", image[:, :w]) if rank < half else ("B", image[:, w:2 * w])
            out = write_image(out_dir / f"{name}{side}" / f"{src.stem}.png", part)
            report.written.append(out)
    return report
