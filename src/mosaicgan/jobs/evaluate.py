"""``mosaicgan eval``: restoration quality inside the masks, against baselines.

Photos are mosaiced deterministically (regions as in ``pairs``: random rectangles and
ellipses, or CAM regions), at each block size; each mosaic is restored by the model and
by the baselines (the mosaic as is, bicubic interpolation of the block means, Telea
inpainting); PSNR and SSIM are measured inside the masks and KID on the region crops.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..baselines import BASELINES, run_baseline
from ..errors import ArgumentError, MosaicganError
from ..imageio import list_images, read_image, write_image, write_json, write_text
from ..metrics import crop_features, kid, masked_psnr, masked_ssim, region_crops
from ..models.restorer import Restorer, load_restorer
from ..mosaic import pixelate_array
from ..options import Log, RegionSpec
from ..pitch import CellGrid
from ..regions.choose import find_regions
from ..regions.masks import random_region
from ..sheets import before_after_sheet, screened

METHODS = ("model", *BASELINES)
MAX_SIDE = 768  # photos are scaled down to this longer side (speed; typical web images)
SHEET_SAMPLES = 6
KID_NOTE = ("KID here is a proxy: it is computed on EfficientNet-Lite0 features of the "
            "region crops (the Inception-v3 weights of the original KID, and LPIPS/FID "
            "weights, are not available offline).")


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
             blocks: Iterable[int] = (8, 12, 16), where: str | RegionSpec = "random",
             per_image: int = 2, seed: int = 0, device: str = "auto",
             log: Log = print, progress: bool = True) -> EvalReport:
    """Restoration quality inside masks, model against baselines; writes report.json/html.

    model: a run folder, a model JSON, or ``default`` (the model shipped in the package).
    where: random regions, or ``RegionSpec("cam", target=...)``: the class's CAM region.
    """
    spec = RegionSpec(where) if isinstance(where, str) else where
    region_fn = None
    if spec.where == "cam":
        def region_fn(image: np.ndarray) -> np.ndarray:
            return find_regions(image, spec).mask
    elif spec.where != "random":
        raise ArgumentError("eval regions are random or cam")
    return evaluate_restorer(photos, report_dir, load_restorer(model, device), blocks=blocks,
                             where=spec.where, region_fn=region_fn, per_image=per_image,
                             seed=seed, log=log, progress=progress)


def evaluate_restorer(photos_dir: str | Path, report_dir: str | Path, restorer: Restorer, *,
             blocks: Iterable[int] = (8, 12, 16), where: str = "random",
             region_fn: Callable | None = None, per_image: int = 2, seed: int = 0,
             log: Log = print, progress: bool = True) -> EvalReport:
    """Run the evaluation and write ``report.json`` and ``report.html`` in report_dir."""
    blocks = list(blocks)
    if not blocks or any(b < 1 for b in blocks):
        raise ArgumentError(f"blocks must be sizes of at least 1 px, got {blocks}")
    photos = list_images([photos_dir])
    samples, failed = make_samples(photos, blocks, per_image, seed, where, region_fn, log)
    refused = 0
    iterator: Iterable = samples
    if progress:
        from tqdm import tqdm
        iterator = tqdm(samples, unit="region", desc="eval")
    for s in iterator:
        for name in BASELINES:
            s.outputs[name] = run_baseline(name, s.mosaic, s.mask, s.block, s.origin)
        # The model knows the mask and the grid, as the bicubic baseline does.
        result = restorer.restore(s.mosaic, s.mask,
                                  [(s.mask, CellGrid.integer_grid(s.block, s.origin))])
        refused += len(result.refused)
        s.outputs["model"] = result.image

    rows = []
    for block in blocks:
        group = [s for s in samples if s.block == block]
        if not group:
            continue
        real = crop_features([c for s in group for c in region_crops(s.clean, s.mask)])
        for method in METHODS:
            psnr = [masked_psnr(s.outputs[method], s.clean, s.mask) for s in group]
            ssim = [masked_ssim(s.outputs[method], s.clean, s.mask) for s in group]
            fake = crop_features([c for s in group
                                  for c in region_crops(s.outputs[method], s.mask)])
            k = kid(fake, real)
            rows.append({"method": method, "block": block, "psnr": round(float(np.mean(psnr)), 4),
                         "ssim": round(float(np.mean(ssim)), 4),
                         "kid": None if k is None else round(k, 6), "n": len(group)})
    report_dir = Path(report_dir)
    write_json(report_dir / "report.json", rows)
    _write_html(report_dir, rows, samples, refused, restorer)
    return EvalReport(rows, report_dir, refused, failed)


def _write_html(report_dir: Path, rows: list[dict], samples: list[Sample], refused: int,
                restorer: Any) -> None:
    chosen = samples[:: max(1, len(samples) // SHEET_SAMPLES)][:SHEET_SAMPLES]
    images = []
    for n, s in enumerate(chosen):
        ys, xs = np.nonzero(s.mask)
        pad = 16
        y0, y1 = max(0, ys.min() - pad), ys.max() + pad + 1
        x0, x1 = max(0, xs.min() - pad), xs.max() + pad + 1
        mosaic, mask = s.mosaic[y0:y1, x0:x1], s.mask[y0:y1, x0:x1]
        row = [(mosaic, f"{s.photo} block {s.block}: mosaic")]
        # Every panel but the mosaic shows what was under it: screened as a restoration.
        row += [(screened(mosaic, s.outputs[m][y0:y1, x0:x1], mask), m)
                for m in METHODS if m != "mosaic"]
        row.append((screened(mosaic, s.clean[y0:y1, x0:x1], mask), "target"))
        name = f"sheet_{n:02d}.png"
        write_image(report_dir / name, before_after_sheet([row]))
        images.append(name)
    head = "".join(f"<th>{h}</th>" for h in ("method", "block", "PSNR (dB)", "SSIM", "KID", "n"))
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in
                         (r["method"], r["block"], r["psnr"], r["ssim"], r["kid"], r["n"]))
        + "</tr>" for r in rows)
    pics = "".join(f'<p><img src="{n}" alt="{n}"></p>' for n in images)
    source = html.escape(str(getattr(restorer, "source", "")))
    write_text(report_dir / "report.html", f"""<!doctype html>
<html><head><meta charset="utf-8"><title>mosaicgan eval</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .8em;text-align:right}}
table{{border-collapse:collapse}}tr:nth-child(even){{background:#f2f2f2}}</style></head>
<body><h1>mosaicgan eval</h1>
<p>Model: {source}. Metrics inside the masks only. {refused} region(s) were kept mosaiced
by the safety gate (a face or nudity in the restored result) and count as the mosaic.
The model, like the bicubic baseline, is given each mosaic's grid (block and origin);
<code>mosaicgan restore</code> finds it with find-mosaic.</p>
<p>{html.escape(KID_NOTE)}</p>
<table><tr>{head}</tr>{body}</table>
<h2>Samples (mosaic | model | bicubic | inpaint_telea | target)</h2>{pics}</body></html>
""")
