"""mosaicgan's jobs as Python functions; the command line calls these.

Image-level verbs take arrays and return arrays (``mosaic_image``, ``find_mosaic``,
``restore_image``); file-level jobs take paths, write atomically, never modify inputs,
go on after a bad file and return a :class:`BatchReport` naming each failure.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, safety
from .errors import InputError, MosaicganError
from .geometry import Box, clip_box
from .imageio import (
    list_images,
    list_images_named,
    output_path,
    read_image,
    read_mask,
    write_image,
    write_json,
    write_text,
)
from .regions.masks import box_mask, random_region

Log = Callable[[str], None]
WHERE_CHOICES = ("random", "cam", "face", "nudity")
TRANSLATE_BATCH = 8  # images translated per generator call (same-size ones share it)
STYLES = ("mosaic", "blur", "solid")


@dataclass
class BatchReport:
    """What a file-level job did: outputs written, files that failed, files skipped."""

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def fail(self, src: str | Path, message: str | Exception, log: Callable[[str], None]) -> None:
        """Record a failed input and say so in one line."""
        self.failed.append((str(src), str(message)))
        log(f"error: {message}")

    def summary(self) -> str:
        parts = [f"{len(self.written)} written"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ", ".join(parts)


@dataclass(frozen=True)
class VideoOptions:
    """Encoding and range for video inputs (see :func:`mosaicgan.video.process_video`)."""

    codec: str | None = None  # default libx264 (VP9 for .webm)
    crf: int = 18
    preset: str = "medium"
    start: float | None = None  # seconds
    duration: float | None = None

    def kwargs(self) -> dict[str, Any]:
        return {"codec": self.codec, "crf": self.crf, "preset": self.preset,
                "start": self.start, "duration": self.duration}


def _is_video(path: Path) -> bool:
    from .video import is_video

    return is_video(path)


def _outputs(inputs: Iterable[str | Path], out_dir: str | Path,
             suffix: str | None = None, videos: bool = False) -> list[tuple[Path, Path]]:
    """(input, output) pairs; an output equal to an input or to another output is an error.

    With ``videos``, folders are searched for videos too, and a video keeps its suffix.
    """
    from .imageio import IMAGE_SUFFIXES

    suffixes = IMAGE_SUFFIXES
    if videos:
        from .video import VIDEO_SUFFIXES

        suffixes = IMAGE_SUFFIXES | VIDEO_SUFFIXES
    pairs, seen = [], {}
    for src, name in list_images_named(inputs, suffixes):
        video = videos and _is_video(src)
        out = output_path(src, out_dir, name, None if video else suffix)
        if out in seen:
            raise InputError(src, f"its output {out} would overwrite the output of {seen[out]}")
        seen[out] = src
        pairs.append((src, out))
    return pairs


def _metadata(operation: str, **fields: Any) -> dict[str, Any]:
    return {"tool": "mosaicgan", "version": __version__, "operation": operation, **fields}


# --- mosaic -------------------------------------------------------------------------------

def mosaic_image(image: np.ndarray, mask: np.ndarray, block: int | None = None,
                 origin: tuple[int, int] | None = None) -> np.ndarray:
    """Pixelate ``image`` (H, W, 3) uint8 inside ``mask`` (H, W) bool.

    Each separate region of the mask gets its own grid, anchored at its top-left corner
    (or at ``origin`` when given), and by default its own block size: about 16 cells
    across its longer side. block: a fixed cell size for all regions.
    """
    import cv2

    from .mosaic import default_block, pixelate_array

    out = image.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8),
                                                               connectivity=8)
    for label in range(1, count):
        x, y, w, h = (int(v) for v in stats[label, :4])
        region = labels == label
        b = block if block is not None else default_block(w, h)
        out = pixelate_array(out, region, b, origin if origin is not None else (x, y))
    return out


@dataclass(frozen=True)
class RegionSpec:
    """How to choose regions when no box or mask is given.

    where: ``random`` (a random rectangle or ellipse), ``cam`` (where the classifier sees
    ``target``), ``face`` or ``nudity`` (NudeNet detections).
    margin: grows each region: a fraction of each detected box's size (face 0.15, nudity
    0.1 by default), or for CAM a fraction of the image's longer side (default 0).
    The CAM options (target, method, scales, threshold, min_score, top_k) are those of
    :func:`mosaicgan.regions.cam.class_activation_map` and
    :func:`mosaicgan.regions.select.regions_from_heatmap`.
    """

    where: str = "random"
    target: str | int | None = "auto"
    method: str = "cam"
    scales: tuple[int, ...] = (224,)
    threshold: float = 0.5
    min_score: float | None = None
    top_k: int | None = 1
    margin: float | None = None
    classifier: str | None = None  # a classifier config JSON; None: offline EfficientNet-Lite0

    def __post_init__(self) -> None:
        if self.where not in WHERE_CHOICES:
            raise ValueError(f"unknown region source {self.where!r}; choose one of "
                             f"{', '.join(WHERE_CHOICES)}")


def find_regions(image: np.ndarray, spec: RegionSpec, *, rng: np.random.Generator | None = None,
                 classifier: Any = None):
    """The regions of an (H, W, 3) uint8 image chosen by ``spec``, as a Regions object
    (mask, boxes, scores, labels) whatever produced them."""
    from .regions.base import Regions

    height, width = image.shape[:2]
    if spec.where == "random":
        shape, box, mask = random_region(rng or np.random.default_rng(), height, width)
        return Regions(mask, [box], [1.0], [shape])
    if spec.where == "cam":
        from .regions.cam import class_activation_map

        cam = class_activation_map(image, classifier or load_classifier(spec.classifier),
                                   method=spec.method, target=spec.target, scales=spec.scales)
        margin = round((spec.margin or 0.0) * max(height, width))
        return cam.regions(threshold=spec.threshold, min_score=spec.min_score,
                           top_k=spec.top_k, margin=margin)
    from .regions.detectors import find_faces, find_nudity

    if spec.where == "face":
        return find_faces(image) if spec.margin is None else find_faces(image, spec.margin)
    return find_nudity(image) if spec.margin is None else find_nudity(image, spec.margin)


@functools.cache
def load_classifier(config: str | None = None):
    """The CAM classifier: a user's (from its config JSON) or the offline default; loaded once."""
    from .regions.classifier import Classifier

    return Classifier.default() if config is None else Classifier.from_config(config)


def given_regions(image_shape: tuple[int, ...], *, box: Box | None = None,
                  mask: np.ndarray | None = None):
    """Regions from a box or a mask, checked against the image size."""
    from .regions.base import Regions

    height, width = image_shape[:2]
    if box is not None:
        clipped = clip_box(box, width, height)
        if 0 in clipped[2:]:
            raise ValueError(f"box {box} lies outside the {width}x{height} image")
        return Regions(box_mask(height, width, box), [clipped], [1.0], ["box"])
    if mask is None:
        raise ValueError("give a box or a mask")
    if mask.shape != (height, width):
        raise ValueError(f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {width}x{height}")
    from .geometry import mask_boxes

    boxes = mask_boxes(mask)
    return Regions(mask, boxes, [1.0] * len(boxes), ["mask"] * len(boxes))


def redact(image: np.ndarray, mask: np.ndarray, style: str = "mosaic",
           block: int | None = None) -> np.ndarray:
    """Hide ``mask`` in ``image``: ``mosaic`` (weak: pixelation can be partly undone),
    ``blur`` (stronger) or ``solid`` (black fill: the only one that removes what was there)."""
    from .mosaic import blur_array, solid_array

    if style == "mosaic":
        return mosaic_image(image, mask, block)
    if style == "blur":
        return blur_array(image, mask)
    if style == "solid":
        return solid_array(image, mask)
    raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")


def mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path, *, box: Box | None = None,
                 mask: str | Path | None = None, where: str | RegionSpec | None = None,
                 block: int | None = None, style: str = "mosaic", seed: int = 0,
                 regions_dir: str | Path | None = None, video: VideoOptions = VideoOptions(),
                 log: Log = print) -> BatchReport:
    """Hide a region of each input image or video (a box, a mask, or regions found by
    ``where``); write each under ``out_dir`` with its own name.

    regions_dir: also write each image's region mask (PNG) and regions (JSON) there, to
    review before anything is trained or published.
    Videos are streamed (audio copied); regions found per frame are tracked over time.
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    spec = RegionSpec(where) if isinstance(where, str) else where
    if sum(v is not None for v in (box, mask, spec)) != 1:
        raise ValueError("give exactly one of box, mask or where")
    report = BatchReport()
    mask_path = Path(mask) if mask is not None else None
    for i, (src, out) in enumerate(_outputs(inputs, out_dir, videos=True)):
        if _is_video(src):
            _mosaic_video(src, out, box, mask_path, spec, block, style, seed, i, video, report,
                          log)
            continue
        try:
            image = read_image(src)
            try:
                if spec is not None:
                    regions = find_regions(image, spec, rng=np.random.default_rng([seed, i]))
                else:
                    m = None if mask_path is None else read_mask(
                        mask_path, (image.shape[1], image.shape[0]))
                    regions = given_regions(image.shape, box=box, mask=m)
            except ValueError as exc:
                raise InputError(src, str(exc)) from None
            if not regions.mask.any():
                log(f"{src}: no region found; written unchanged")
            write_image(out, redact(image, regions.mask, style, block))
            if regions_dir is not None:
                stem = out.relative_to(Path(out_dir)).with_suffix("")
                write_image(Path(regions_dir) / f"{stem}.png", regions.mask.astype(np.uint8) * 255)
                write_json(Path(regions_dir) / f"{stem}.json", regions.to_json())
            report.written.append(out)
        except MosaicganError as exc:
            report.fail(src, exc, log)
    return report


def _mosaic_video(src: Path, out: Path, box: Box | None, mask_path: Path | None,
                  spec: RegionSpec | None, block: int | None, style: str, seed: int, index: int,
                  video: VideoOptions,
                  report: BatchReport, log: Log) -> None:
    from .video import probe
    from .video_jobs import mosaic_video

    if style != "mosaic":
        report.fail(src, f"{src}: videos take --style mosaic only", log)
        return
    try:
        kwargs: dict[str, Any] = {}
        if box is not None:
            kwargs["box"] = box
        elif mask_path is not None:
            info = probe(src)
            kwargs["mask"] = read_mask(mask_path, (info.width, info.height))
        elif spec is not None and spec.where == "random":
            info = probe(src)
            rng = np.random.default_rng([seed, index])
            kwargs["mask"] = random_region(rng, info.height, info.width)[2]
        else:
            assert spec is not None

            def region_fn(frame: np.ndarray) -> np.ndarray:
                return find_regions(frame, spec).mask
            kwargs["region_fn"] = region_fn
        done = mosaic_video(src, out, block=block, log=log, **kwargs, **video.kwargs())
        log(done.summary())
        report.written.append(out)
    except MosaicganError as exc:
        report.fail(src, exc, log)


def heatmap_overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image with a JET-coloured heat map blended over it (for looking at a CAM)."""
    import cv2

    colours = cv2.applyColorMap((np.clip(heatmap, 0, 1) * 255).astype(np.uint8),
                                cv2.COLORMAP_JET)[..., ::-1]
    return np.round((1 - alpha) * image + alpha * colours).astype(np.uint8)


def cam_files(inputs: Iterable[str | Path], out_dir: str | Path, spec: RegionSpec,
              log: Log = print) -> BatchReport:
    """Per image: ``<stem>_overlay.png`` (heat map), ``<stem>_mask.png`` and ``<stem>.json``
    (class, probability and regions: box, area, peak)."""
    from .regions.cam import class_activation_map

    report = BatchReport()
    out_dir = Path(out_dir)
    for src, out in _outputs(inputs, out_dir, suffix=".png"):
        try:
            image = read_image(src)
            cam = class_activation_map(image, load_classifier(spec.classifier),
                                       method=spec.method, target=spec.target,
                                       scales=spec.scales)
            margin = round((spec.margin or 0.0) * max(image.shape[:2]))
            regions = cam.regions(threshold=spec.threshold, min_score=spec.min_score,
                                  top_k=spec.top_k, margin=margin)
        except (MosaicganError, ValueError) as exc:
            message = str(exc) if isinstance(exc, MosaicganError) else f"{src}: {exc}"
            report.fail(src, message, log)
            continue
        stem = out.with_suffix("")
        write_image(f"{stem}_overlay.png", heatmap_overlay(image, cam.heatmap))
        write_image(f"{stem}_mask.png", regions.mask.astype(np.uint8) * 255)
        write_json(f"{stem}.json", {"image": str(src), **cam.to_json(), **regions.to_json()})
        report.written.append(Path(f"{stem}_overlay.png"))
        log(f"{src}: {cam.class_name} (p {cam.probability:.2f}), {len(regions)} region(s)")
    return report


# --- find mosaics -------------------------------------------------------------------------

def find_mosaic(image: np.ndarray) -> np.ndarray:
    """(H, W) bool mask of the pixelated parts of an (H, W, 3) uint8 image."""
    from .find_mosaic import find_mosaic as _find

    return _find(image)


def find_mosaic_files(inputs: Iterable[str | Path], out_dir: str | Path,
                      log: Log = print) -> BatchReport:
    """Write one mask PNG (255 = pixelated) per input, named ``<stem>.png`` under out_dir."""
    report = BatchReport()
    for src, out in _outputs(inputs, out_dir, suffix=".png"):
        try:
            mask = find_mosaic(read_image(src))
            write_image(out, mask.astype(np.uint8) * 255)
            report.written.append(out)
            log(f"{src}: {100 * mask.mean():.1f}% pixelated -> {out}")
        except MosaicganError as exc:
            report.fail(src, exc, log)
    return report


# --- training pairs -----------------------------------------------------------------------

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
    from .data.paired import PAIRS_FILE
    from .data.synth import PairSpec

    if not 0 <= val < 1:
        raise ValueError(f"val must be in [0, 1), got {val}")
    if where is not None and where.where not in ("random", "cam"):
        raise ValueError(f"pairs take random or cam regions, not {where.where!r}: "
                         "faces and nudity are never restored, so never trained on")
    if block[0] < 1 or block[1] < block[0]:
        raise ValueError(f"block range {block[0]}-{block[1]} is not MIN-MAX with 1 <= MIN <= MAX")
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
        from tqdm import tqdm
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
    import shutil

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


def _pairs_of_photo(i: int, src: Path, name: Path, out_dir: Path, split: str, spec: Any,
                    per_image: int, seed: int, where: RegionSpec | None) -> dict[str, Any]:
    """Write one photo's pairs; return its rows and what was skipped or failed (JSON-ready)."""
    from .data.synth import make_pair

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


# --- training -----------------------------------------------------------------------------

def _faces_in_crop(faces: list[Box], pair: Any) -> list[Box]:
    """Face boxes of the whole photo in a pair's crop pixels (its params' scale and crop)."""
    scale = pair.params["scale"]
    x0, y0, _ = pair.params["crop"]
    return [(int(x * scale) - x0, int(y * scale) - y0, int(np.ceil(w * scale)) + 1,
             int(np.ceil(h * scale)) + 1) for x, y, w, h in faces]


def screen_dataset(dataset: Any, cache: Path | None, log: Log = print) -> list[tuple[str, str]]:
    """Screen every image a dataset reads; leave out what is refused; return it named.

    Verdicts are cached per file (path, size, mtime) in ``cache``, so a resumed run does
    not screen again.
    """
    known: dict[str, list[str]] = {}
    if cache is not None and cache.is_file():
        known = json.loads(cache.read_text())
    refused: list[tuple[str, str]] = []
    excluded: set[Path] = set()
    for path in dataset.image_files():
        stat = path.stat()
        key = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        if key not in known:
            found: set[str] = set()
            for view in dataset.read_views(path):
                found.update(safety.screen_image(view))
            known[key] = sorted(found)
        if known[key]:
            excluded.add(path)
            refused.append((str(path), ", ".join(known[key])))
            log(f"skipped {path}: {', '.join(known[key])} (safety screen)")
    dataset.exclude_files(excluded)
    if cache is not None:
        write_text(cache, json.dumps(known, indent=0, sort_keys=True))
    if refused:
        log(f"safety screen: {len(refused)} image(s) left out")
    return refused


def _saved_settings(run_dir: Path, resume: bool, config: dict[str, Any] | None,
                    loop: Any) -> tuple[dict[str, Any], Any]:
    """(model settings, loop options): a resumed run's own, else the ones given."""
    from .train.loop import LoopOptions, saved_options

    saved = saved_options(run_dir) if resume else None
    opts = loop or (saved[1] if saved else LoopOptions())
    return (saved[0] if saved else dict(config or {})), opts


def _train(make_trainer: Callable, train_set: Any, val_set: Any, run_dir: Path, opts: Any, *,
           epochs: float | None, resume: bool, log: Log,
           args: dict[str, Any]):
    """Screen the data, turn epochs into steps, run the shared loop."""
    from dataclasses import replace

    from .train.loop import run_training

    for data in (train_set, val_set):
        if data is not None:
            screen_dataset(data, run_dir / "screening.json", log)
    if not len(train_set):
        raise InputError(args.get("dataset"), "no training images left after the safety screen")
    if epochs is not None:
        opts = replace(opts, steps=max(1, math.ceil(epochs * len(train_set) / opts.batch)))
    return run_training(make_trainer, train_set, run_dir, opts, resume=resume,
                        sample_set=val_set, args=args, log=log)


def train_pix2pix(dataset: str | Path, run_dir: str | Path, *,
                  config: dict[str, Any] | None = None, loop: Any = None,
                  epochs: float | None = None, direction: str = "AtoB", resume: bool = False,
                  init_from: str | Path | None = None, log: Log = print):
    """Train pix2pix on a pair folder or an aligned A|B folder; return a RunResult.

    config: Pix2PixConfig fields (size, ngf, gan_mode, mask_l1_weight, ...); the mask
    channel is on when the dataset has masks. loop: LoopOptions. With ``resume`` the run's
    saved model settings are used and its loop options are kept unless ``loop`` is given.
    init_from: a run folder, an exported model JSON or ``"default"`` (the shipped model):
    a new run's generator starts from its weights (fine-tuning), and takes its
    architecture unless ``config`` sets it, in which case the two must agree.
    """
    from .data.paired import PairedDataset, split_dir
    from .train.pix2pix import Pix2Pix, Pix2PixConfig

    run_dir = Path(run_dir)
    settings, opts = _saved_settings(run_dir, resume, config, loop)
    start_from = None
    if init_from is not None and not resume:
        start_from = _generator_source(init_from)
        settings = {**{k: start_from.config[k] for k in (*GENERATOR_SHAPE, "dropout")
                       if k in start_from.config}, **settings}
    train_set = PairedDataset(dataset, "train", settings.get("size", 256), direction)
    # A dataset with masks trains a restorer: the mask is the generator's 4th channel, the
    # generator corrects the input inside the mask only, and where the pairs record their
    # mosaic's grid it starts from the bicubic interpolation of the cells.
    with_grid = train_set.has_mask and all(it.grid for it in train_set.items)
    cfg = Pix2PixConfig.from_dict({"mask_channel": train_set.has_mask,
                                   "residual": train_set.has_mask,
                                   "prefill": "bicubic" if with_grid else "none", **settings})
    if cfg.prefill != "none" and not with_grid:
        raise InputError(train_set.folder, f"prefill {cfg.prefill} needs pairs that record "
                                           "their mosaic's block and origin")
    train_set.prefill = cfg.prefill
    val_set = None
    for split in ("val", "test"):
        if (Path(dataset) / split).is_dir() and split_dir(Path(dataset), split) != train_set.folder:
            val_set = PairedDataset(dataset, split, cfg.size, direction, augment=False,
                                    prefill=cfg.prefill)
            break
    if start_from is not None:
        differ = [k for k in GENERATOR_SHAPE if start_from.config.get(k) != getattr(cfg, k)]
        if differ:
            raise InputError(start_from.path, "--init-from: its generator differs from this "
                             "run's in " + ", ".join(f"{k} ({start_from.config.get(k)} vs "
                                                     f"{getattr(cfg, k)})" for k in differ))

    def make_trainer(device: Any, fmt: Any, fused: bool) -> Pix2Pix:
        trainer = Pix2Pix(cfg, device, fmt, fused)
        if start_from is not None:
            start_from.load_module("G", trainer.G)
        return trainer

    return _train(make_trainer, train_set, val_set, run_dir, opts, epochs=epochs,
                  resume=resume, log=log,
                  args={"dataset": str(dataset), "direction": direction, "epochs": epochs,
                        "init_from": None if start_from is None else str(start_from.path)})


# What fixes a pix2pix generator's weights' shapes and meaning (fine-tuning keeps these;
# it also keeps the source's dropout unless told otherwise).
GENERATOR_SHAPE = ("size", "mask_channel", "residual", "prefill", "ngf", "norm")


def _generator_source(init_from: str | Path) -> Any:
    """The checkpoint a fine-tuning run starts from (``"default"``: the shipped model)."""
    from .train.checkpoint import load_checkpoint
    from .train.pix2pix import KIND

    ckpt = load_checkpoint(default_model() if str(init_from) == "default" else init_from)
    if ckpt.kind != KIND:
        raise InputError(ckpt.path, f"--init-from: is a {ckpt.kind} model, not pix2pix")
    return ckpt


def train_cyclegan(dataset: str | Path | None, run_dir: str | Path, *,
                   a: str | Path | None = None, b: str | Path | None = None,
                   config: dict[str, Any] | None = None, loop: Any = None,
                   epochs: float | None = None, resume: bool = False, log: Log = print):
    """Train CycleGAN on trainA/ + trainB/ of ``dataset`` (or folders ``a`` and ``b``).

    config: CycleGANConfig fields; loop: LoopOptions; resume as for :func:`train_pix2pix`.
    Samples come from testA/ + testB/ when the dataset has them.
    """
    from .data.unpaired import UnpairedDataset, domain_folders
    from .train.cyclegan import CycleGAN, CycleGANConfig

    run_dir = Path(run_dir)
    settings, opts = _saved_settings(run_dir, resume, config, loop)
    cfg = CycleGANConfig.from_dict(settings)
    fa, fb = domain_folders(dataset, "train", a, b)
    train_set = UnpairedDataset(fa, fb, cfg.size, augment=True)
    val_set = None
    if dataset is not None and (Path(dataset) / "testA").is_dir() and \
            (Path(dataset) / "testB").is_dir():
        val_set = UnpairedDataset(*domain_folders(dataset, "test"), cfg.size, augment=False)
    return _train(lambda device, fmt, fused: CycleGAN(cfg, device, fmt, fused), train_set,
                  val_set, run_dir, opts, epochs=epochs, resume=resume, log=log,
                  args={"dataset": str(dataset), "a": str(fa), "b": str(fb), "epochs": epochs})


# --- restore ------------------------------------------------------------------------------

def default_model() -> Path:
    """The restoration model shipped in the package (safetensors + JSON)."""
    from importlib import resources

    path = Path(str(resources.files(__package__).joinpath("weights", "restore.json")))
    if not path.is_file():
        raise InputError(None, "this installation ships no default restoration model; "
                               "give --model RUN_DIR")
    return path


def export_model(run: str | Path, out_json: str | Path, *, half: bool = True,
                 card: dict[str, Any] | None = None) -> Path:
    """Write a run's generator(s) alone as ``<name>.json`` + ``<name>.safetensors``, the
    form a model is shipped in (fp16 by default: half the size, restored to fp32 on load).
    """
    from .train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(run)
    prefixes = ("G.",) if ckpt.kind == "pix2pix" else ("G_A.", "G_B.")
    modules = {}
    for prefix in prefixes:
        state = {k: (v.half() if half and v.is_floating_point() else v)
                 for k, v in ckpt.state_dict(prefix[:-1]).items()}
        modules[prefix[:-1]] = _StateHolder(state)
    out_json = Path(out_json)
    return save_checkpoint(out_json.parent, kind=ckpt.kind, config=ckpt.config, step=ckpt.step,
                           modules=modules, json_name=out_json.name,
                           extra={"exported_from": str(ckpt.path), "dtype":
                                  "float16" if half else "float32", "card": card or {}})


class _StateHolder:
    """Quacks like a module for save_checkpoint: a fixed state dict."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state


def load_restorer(model: str | Path | None = "default", device: str = "auto"):
    """A Restorer from a run folder or model JSON; ``default`` or None: the shipped model."""
    from .restore import Restorer

    path = default_model() if model in (None, "default") else model
    return Restorer.from_checkpoint(path, device=device)


def restore_image(image: np.ndarray, restorer: Any, mask: np.ndarray | None = None):
    """Restore an (H, W, 3) uint8 image: inside ``mask``, or where mosaics are found.

    Returns a RestoreResult (image, regions with what was restored and what was refused).
    """
    if mask is None:
        from .restore import find_mosaics

        return restorer.restore(image, *find_mosaics(image))
    return restorer.restore(image, mask)


def restore_files(inputs: Iterable[str | Path], out_dir: str | Path, *,
                  model: str | Path | None = "default",
                  mask: str | Path | None = None, device: str = "auto",
                  video: VideoOptions = VideoOptions(), log: Log = print) -> BatchReport:
    """Restore each image (mask given, or found) into ``out_dir/<stem>.png``; a video into
    ``out_dir/<name>`` (streamed, regions tracked, audio copied).

    Regions refused by the safety gate stay as they were; the log says which and why.
    The PNG's metadata lists the regions synthesised and those refused.
    """
    restorer = load_restorer(model, device)
    report = BatchReport()
    mask_path = Path(mask) if mask is not None else None
    for src, out in _outputs(inputs, out_dir, suffix=".png", videos=True):
        if _is_video(src):
            _restore_video(src, out, restorer, mask_path, video, report, log)
            continue
        try:
            image = read_image(src)
            m = (read_mask(mask_path, (image.shape[1], image.shape[0]))
                 if mask_path is not None else None)
            result = restore_image(image, restorer, m)
        except MosaicganError as exc:
            report.fail(src, exc, log)
            continue
        for region in result.refused:
            note = (f"{src}: region at {region.box} kept as it was: "
                    f"{' and '.join(region.reasons)} detected in the restored result")
            report.notes.append(note)
            log(note)
        if not result.regions:
            log(f"{src}: no mosaic found; written unchanged")
        meta = _metadata("restore", model=restorer.source,
                         synthesized=[list(b) for b in result.synthesized],
                         refused=[r.as_dict() for r in result.refused])
        write_image(out, result.image, metadata=meta)
        report.written.append(out)
    return report


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


def _restore_video(src: Path, out: Path, restorer: Any, mask_path: Path | None,
                   video: VideoOptions, report: BatchReport, log: Log) -> None:
    from .video import probe
    from .video_jobs import restore_video

    try:
        m = None
        if mask_path is not None:
            info = probe(src)
            m = read_mask(mask_path, (info.width, info.height))
        done = restore_video(src, out, restorer, mask=m, log=log, **video.kwargs())
        log(done.summary())
        refused = len(done.withheld)
        if refused:
            note = (f"{src}: {refused} tracked region(s) kept mosaiced in every frame: a face "
                    "or nudity was detected in the restored result")
            report.notes.append(note)
            log(note)
        report.written.append(out)
    except MosaicganError as exc:
        report.fail(src, exc, log)


# --- eval -------------------------------------------------------------------------------

def evaluate(photos: str | Path, report_dir: str | Path, *, model: str | Path = "default",
             blocks: Iterable[int] = (8, 12, 16), where: str | RegionSpec = "random",
             per_image: int = 2, seed: int = 0, device: str = "auto",
             log: Log = print, progress: bool = True):
    """Restoration quality inside masks, model against baselines; writes report.json/html.

    model: a run folder, a model JSON, or ``default`` (the model shipped in the package).
    """
    from .evaluate import evaluate as run_eval

    spec = RegionSpec(where) if isinstance(where, str) else where
    region_fn = None
    if spec.where == "cam":
        def region_fn(image: np.ndarray) -> np.ndarray:
            return find_regions(image, spec).mask
    elif spec.where != "random":
        raise ValueError("eval regions are random or cam")
    restorer = load_restorer(model, device)
    return run_eval(photos, report_dir, restorer, blocks=blocks, where=spec.where,
                    region_fn=region_fn, per_image=per_image, seed=seed, log=log,
                    progress=progress)


# --- translate ----------------------------------------------------------------------------

def load_translator(model: str | Path, direction: str = "AtoB", device: str = "auto"):
    from .translate import Translator

    return Translator.from_checkpoint(model, direction, device)


def translate_files(inputs: Iterable[str | Path], out_dir: str | Path, *, model: str | Path,
                    direction: str = "AtoB", device: str = "auto",
                    video: VideoOptions = VideoOptions(), log: Log = print) -> BatchReport:
    """Translate each image into ``out_dir/<stem>.png`` (a video into ``out_dir/<name>``);
    outputs the gate refuses (nudity anywhere, or a face where the input showed none) are
    not written (a video with one such frame is refused whole)."""
    translator = load_translator(model, direction, device)
    report = BatchReport()
    pending: list[tuple[Path, Path, np.ndarray]] = []  # images of one generator batch

    def write_batch() -> None:
        results = translator.translate_batch([image for _, _, image in pending])
        for (src, out, _), result in zip(pending, results, strict=True):
            if result.image is None:
                reason = ", ".join(result.refused)
                report.skipped.append((str(src), f"output refused: {reason} detected"))
                log(f"{src}: output refused ({reason} detected); nothing written")
                continue
            write_image(out, result.image, metadata=_metadata(
                "translate", model=translator.source, direction=direction,
                synthesized="whole image"))
            report.written.append(out)
        pending.clear()

    for src, out in _outputs(inputs, out_dir, suffix=".png", videos=True):
        if _is_video(src):
            from .video_jobs import OutputRefused, translate_video

            try:
                log(translate_video(src, out, translator, log=log, **video.kwargs()).summary())
                report.written.append(out)
            except OutputRefused as exc:
                report.skipped.append((str(src), str(exc)))
                log(f"{exc}; nothing written")
            except MosaicganError as exc:
                report.fail(src, exc, log)
            continue
        try:
            pending.append((src, out, read_image(src)))
        except MosaicganError as exc:
            report.fail(src, exc, log)
        if len(pending) == TRANSLATE_BATCH:
            write_batch()
    write_batch()
    return report
