"""``mosaicgan eval``: restoration quality inside the masks, against baselines.

Photos are mosaiced deterministically (regions as in ``pairs``: random rectangles and
ellipses, or CAM regions), at each block size; each mosaic is restored by the model and
by the baselines (the mosaic as is, bicubic interpolation of the block means, Telea
inpainting); PSNR and SSIM are measured inside the masks, KID and a feature distance on
the region crops. With several sharpness values the model is restored at each one (the
dial between the faithful and the sharp restorer), and the report plots PSNR against KID
for every method and value, beside a grid of the same crops restored by each.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines import BASELINES, run_baseline
from ..errors import ArgumentError, MosaicganError
from ..find import CellGrid
from ..imageio import read_image, write_image, write_json, write_text
from ..metrics import (
    CELL_ENERGY_LIMIT,
    cell_frequency_energy,
    crop_features,
    distance_features,
    feature_distances,
    kid,
    masked_psnr,
    masked_ssim,
    region_crops,
)
from ..models.restorer import Restorer, load_restorer
from ..models.sharpness import check_sharpness
from ..mosaic import pixelate_array
from ..options import ClusterOptions, Log, RegionSpec
from ..plots import Series, scatter_svg
from ..regions.choose import find_regions
from ..regions.masks import random_region
from ..sheets import before_after_sheet, screened
from ..walk import list_images
from .cluster import cluster_map

MAX_SIDE = 768  # photos are scaled down to this longer side (speed; typical web images)
GRID_SAMPLES = 6  # rows of the report's crop grid
KID_NOTE = ("KID here is a proxy: it is computed on EfficientNet-Lite0 features of the "
            "region crops (the Inception-v3 weights of the original KID, and LPIPS/FID "
            "weights, are not available offline).")
FEATURE_NOTE = ("The feature distance is LPIPS-like but uncalibrated: unit-normalised "
                "EfficientNet-Lite0 features at five depths, every channel weighing 1 "
                "(LPIPS learns those weights from human judgements; none are available "
                "offline), so its values are not LPIPS's. Lower is closer.")
CELL_NOTE = ("Cell peak: how much the restored region's spectrum peaks at the mosaic's cell "
             "frequency and its harmonics, as a ratio to the clean target's (mean over the "
             f"regions; above {CELL_ENERGY_LIMIT:g} the method draws a pattern that repeats "
             "every cell, a hatching or block edges; a mosaic itself stays low, its spectrum "
             "is zero there).")


@dataclass
class Sample:
    photo: str
    block: int
    clean: np.ndarray
    mosaic: np.ndarray
    mask: np.ndarray
    origin: tuple[int, int]  # the mosaic's grid corner
    outputs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class EvalReport:
    rows: list[dict[str, Any]]
    report_dir: Path
    refused: int  # regions the safety gate kept mosaiced in the model's outputs
    failed: list[tuple[str, str]]


def _scaled(image: np.ndarray) -> np.ndarray:
    import cv2

    scale = MAX_SIDE / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def make_samples(photos: list[Path], blocks: Iterable[int], per_image: int, seed: int,
                 where: str = "random", region_fn: Callable | None = None,
                 log: Log = print
                 ) -> tuple[list[Sample], list[tuple[str, str]]]:
    """Deterministic mosaics: per photo and region, one sample per block size."""
    samples, failed = [], []
    for i, path in enumerate(photos):
        try:
            clean = _scaled(read_image(path))
        except MosaicganError as exc:
            failed.append((str(path), str(exc)))
            log(f"error: {exc}")
            continue
        rng = np.random.default_rng([seed, i])
        h, w = clean.shape[:2]
        for k in range(per_image):
            if where == "cam" and region_fn is not None:
                mask = region_fn(clean)
                if not mask.any():
                    break
            else:
                mask = random_region(rng, h, w, area=(0.03, 0.15))[2]
            ys, xs = np.nonzero(mask)
            for block in blocks:
                origin = (int(xs.min() + rng.integers(0, block)),
                          int(ys.min() + rng.integers(0, block)))
                samples.append(Sample(f"{path.name}#{k}", block, clean,
                                      pixelate_array(clean, mask, block, origin), mask, origin))
            if where == "cam":
                break  # one CAM region per photo
    return samples, failed


def evaluate(photos: str | Path, report_dir: str | Path, *, model: str | Path = "default",
             sharpness: Sequence[float | None] = (None,),
             blocks: Iterable[int] = (8, 12, 16), where: str | RegionSpec = "random",
             per_image: int = 2, seed: int = 0, device: str = "auto",
             cluster: ClusterOptions | None = None, log: Log = print,
             progress: bool = True) -> EvalReport:
    """Restoration quality inside masks, model against baselines; writes report.json/html.

    model: a run folder, a model JSON, or ``default`` (the model shipped in the package).
    sharpness: the model is evaluated at each of these points of its sharpness dial (see
    :func:`mosaicgan.models.restorer.load_restorer`; None: its default).
    where: random regions, or ``RegionSpec("cam", target=...)``: the class's CAM region.
    cluster: restore the samples on Ray workers that each load the models once
    (:mod:`mosaicgan.jobs.cluster`); the metrics are computed here.
    """
    # Every value checked before any model is read (one line for a bad one).
    values = [None if v is None else check_sharpness(v) for v in sharpness] or [None]
    restorers = [load_restorer(model, device, value) for value in values]
    spec = RegionSpec(where) if isinstance(where, str) else where
    region_fn = None
    if spec.where == "cam":
        def region_fn(image: np.ndarray) -> np.ndarray:
            return find_regions(image, spec).mask
    elif spec.where != "random":
        raise ArgumentError("eval regions are random or cam")
    spread = None
    if cluster is not None:
        spread = partial(cluster_map, partial(loaded_outputs, model, device, values),
                         options=cluster, desc="eval")
    return evaluate_restorer(photos, report_dir, restorers, blocks=blocks,
                             where=spec.where, region_fn=region_fn, per_image=per_image,
                             seed=seed, log=log, progress=progress, spread=spread)


Outputs = tuple[dict[str, np.ndarray], int]  # each method's output, regions refused


def sample_outputs(restorers: Sequence[Restorer], s: Sample) -> Outputs:
    """Each baseline's and each restorer's output for ``s`` (labelled as in the report),
    and how many regions the safety gate refused."""
    outputs = {name: run_baseline(name, s.mosaic, s.mask, s.block, s.origin)
               for name in BASELINES}
    refused = 0
    for r in restorers:
        # The model knows the mask and the grid, as the bicubic baseline does.
        result = r.restore(s.mosaic, s.mask, [(s.mask, CellGrid.integer_grid(s.block, s.origin))])
        refused += len(result.refused)
        outputs[method_label("model", r.sharpness)] = result.image
    return outputs, refused


def loaded_outputs(model: str | Path, device: str, sharpness: Sequence[float | None]
                   ) -> Callable[[Sample], Outputs]:
    """:func:`sample_outputs` with the restorers loaded (once per --cluster worker)."""
    return partial(sample_outputs, [load_restorer(model, device, v) for v in sharpness])


def method_label(method: str, sharpness: float | None) -> str:
    """The name of a method's outputs in a report: ``bicubic``, ``model``, or
    ``model 0.5`` at a point of the sharpness dial."""
    return method if sharpness is None else f"{method} {sharpness:g}"


def evaluate_restorer(photos_dir: str | Path, report_dir: str | Path,
                      restorer: Restorer | Sequence[Restorer], *,
                      blocks: Iterable[int] = (8, 12, 16), where: str = "random",
                      region_fn: Callable | None = None, per_image: int = 2, seed: int = 0,
                      log: Log = print, progress: bool = True,
                      spread: Callable[[list[Sample]], list[Outputs]] | None = None
                      ) -> EvalReport:
    """Run the evaluation and write ``report.json`` and ``report.html`` in report_dir.

    restorer: one, or several (e.g. one per sharpness), each with its own report rows.
    spread: computes every sample's outputs elsewhere (the same restorers, loaded there:
    see :func:`evaluate`'s cluster); None: here."""
    restorers = [restorer] if isinstance(restorer, Restorer) else list(restorer)
    methods = [("model", r.sharpness) for r in restorers] + [(b, None) for b in BASELINES]
    labels = [method_label(*m) for m in methods]
    if len(set(labels)) != len(labels):
        raise ArgumentError(f"methods repeat: {labels}")
    blocks = list(blocks)
    if not blocks or any(b < 1 for b in blocks):
        raise ArgumentError(f"blocks must be sizes of at least 1 px, got {blocks}")
    photos = list_images([photos_dir])
    samples, failed = make_samples(photos, blocks, per_image, seed, where, region_fn, log)
    if spread is not None:
        done = spread(samples)
    else:
        iterator: Iterable = samples
        if progress:
            from tqdm import tqdm
            iterator = tqdm(samples, unit="region", desc="eval")
        done = [sample_outputs(restorers, s) for s in iterator]
    refused = 0
    for s, (outputs, count) in zip(samples, done, strict=True):
        s.outputs.update(outputs)
        refused += count

    rows = []
    for block in blocks:
        group = [s for s in samples if s.block == block]
        if not group:
            continue
        real_crops = [c for s in group for c in region_crops(s.clean, s.mask)]
        clean_peaks = [cell_frequency_energy(s.clean, s.mask, block) for s in group]
        real, real_maps = crop_features(real_crops), distance_features(real_crops)
        for (method, sharp), label in zip(methods, labels, strict=True):
            psnr = [masked_psnr(s.outputs[label], s.clean, s.mask) for s in group]
            ssim = [masked_ssim(s.outputs[label], s.clean, s.mask) for s in group]
            crops = [c for s in group for c in region_crops(s.outputs[label], s.mask)]
            k = kid(crop_features(crops), real)
            peaks = [cell_peak_ratio(s.outputs[label], s.mask, block, want)
                     for s, want in zip(group, clean_peaks, strict=True)]
            peaks = [p for p in peaks if p is not None]
            rows.append({"method": method, "sharpness": sharp,
                         "block": block, "psnr": round(float(np.mean(psnr)), 4),
                         "ssim": round(float(np.mean(ssim)), 4),
                         "kid": None if k is None else round(k, 6),
                         "feature_distance": round(float(np.mean(
                             feature_distances(crops, real_maps))), 5),
                         "cell_peak": round(float(np.mean(peaks)), 4) if peaks else None,
                         "n": len(group)})
    report_dir = Path(report_dir)
    write_json(report_dir / "report.json", rows)
    _write_html(report_dir, rows, samples, refused, restorers, labels)
    return EvalReport(rows, report_dir, refused, failed)


def trade_off_plots(rows: list[dict[str, Any]]) -> list[str]:
    """One SVG per block: PSNR against the KID proxy, a point per method and sharpness
    (the model's points joined in order of sharpness: the dial's path)."""
    plots = []
    for block in sorted({r["block"] for r in rows}):
        group = [r for r in rows if r["block"] == block and r["kid"] is not None]
        if not group:
            continue
        model = sorted((r for r in group if r["method"] == "model"),
                       key=lambda r: -1 if r["sharpness"] is None else r["sharpness"])
        series = [Series("model", [(r["kid"], r["psnr"], "" if r["sharpness"] is None
                                    else f"{r['sharpness']:g}") for r in model], joined=True)]
        series += [Series(m, [(r["kid"], r["psnr"], "") for r in group if r["method"] == m])
                   for m in dict.fromkeys(r["method"] for r in group) if m != "model"]
        plots.append(scatter_svg(series, "KID proxy (lower: more like real crops)",
                                 "PSNR in the mask (dB)", f"block {block}"))
    return plots


def cell_peak_ratio(output: np.ndarray, mask: np.ndarray, block: int,
                    clean_peak: float | None) -> float | None:
    """:func:`mosaicgan.metrics.cell_frequency_energy` of a restoration over the clean
    target's (``clean_peak``), for one region (None where the region is too small)."""
    got = cell_frequency_energy(output, mask, block)
    return None if got is None or not clean_peak else got / clean_peak


def crop_grid(samples: list[Sample], labels: list[str]) -> np.ndarray:
    """The same crops restored by each method (columns) for a few samples (rows), every
    panel that shows what was under the mosaic screened by the safety gate."""
    chosen = samples[:: max(1, len(samples) // GRID_SAMPLES)][:GRID_SAMPLES]
    rows = []
    for s in chosen:
        ys, xs = np.nonzero(s.mask)
        pad = 16
        y0, y1 = max(0, ys.min() - pad), ys.max() + pad + 1
        x0, x1 = max(0, xs.min() - pad), xs.max() + pad + 1
        mosaic, mask = s.mosaic[y0:y1, x0:x1], s.mask[y0:y1, x0:x1]
        row = [(mosaic, f"{s.photo} block {s.block}: mosaic")]
        row += [(screened(mosaic, s.outputs[m][y0:y1, x0:x1], mask), m)
                for m in labels if m != "mosaic"]
        row.append((screened(mosaic, s.clean[y0:y1, x0:x1], mask), "target"))
        rows.append(row)
    return before_after_sheet(rows)


def _write_html(report_dir: Path, rows: list[dict], samples: list[Sample], refused: int,
                restorers: list[Restorer], labels: list[str]) -> None:
    if samples:
        write_image(report_dir / "grid.png", crop_grid(samples, labels))
    columns = ("method", "sharpness", "block", "PSNR (dB)", "SSIM", "KID", "feature distance",
               "cell peak", "n")
    keys = ("method", "sharpness", "block", "psnr", "ssim", "kid", "feature_distance",
            "cell_peak", "n")
    head = "".join(f"<th>{h}</th>" for h in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if r[k] is None else str(r[k]))}</td>"
                         for k in keys) + "</tr>" for r in rows)
    plots = "".join(f'<figure class="plot">{svg}</figure>' for svg in trade_off_plots(rows))
    sources = "; ".join(html.escape(r.source) for r in restorers)
    shown = " | ".join(["mosaic", *(m for m in labels if m != "mosaic"), "target"])
    grid = '<p><img src="grid.png" alt="crops restored by each method"></p>' if samples else ""
    write_text(report_dir / "report.html", f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mosaicgan eval</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:right}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f2f2f2}}
figure.plot{{display:inline-block;margin:0 1em 1em 0}}</style></head>
<body><h1>mosaicgan eval</h1>
<p>Model: {sources}. Metrics inside the masks only. {refused} region(s) were kept mosaiced
by the safety gate (a face or nudity in the restored result) and count as the mosaic.
The model, like the bicubic baseline, is given each mosaic's grid (block and origin);
<code>mosaicgan restore</code> finds it with find-mosaic.</p>
<p>{html.escape(KID_NOTE)} {html.escape(FEATURE_NOTE)} {html.escape(CELL_NOTE)}</p>
<table><tr>{head}</tr>{body}</table>
<h2>Faithful or sharp: PSNR against the KID proxy</h2>
<p>Up is closer to the original pixel by pixel; left is closer to real photographs in
distribution. A model's points are joined in order of sharpness.</p>
{plots}
<h2>The same crops, restored by each ({html.escape(shown)})</h2>{grid}</body></html>
""")
