"""``mosaicgan demo``: the whole pipeline on photos that scikit-image ships.

Mosaic the photos, make training pairs, train a small pix2pix for a few minutes, find the
mosaics, restore them (with that model and with the model shipped in the package), and
write a before/after sheet. The astronaut's mosaic covers her
face: the safety gate checks the restored result, and a region in which a face (or
nudity) shows is kept mosaiced (the sheet says which happened).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.paired import PairedDataset
from ..errors import InputError
from ..imageio import read_image, write_image
from ..models.device import pick_device
from ..models.sharpness import check_sharpness
from ..models.shipped import default_model, sharp_model
from ..mosaic import mosaic_image
from ..naming import output_name
from ..nets.pix2pix import Pix2PixConfig
from ..options import DEFAULT_SHARPNESS, Log, OutputOptions
from ..regions.masks import box_mask
from ..sheets import before_after_sheet, screened
from ..train.loop import LoopOptions, collate
from ..train.pix2pix import Pix2Pix
from ..train.precision import Amp, fused_adam, pick_precision
from .find import find_mosaic
from .pairs import make_pairs
from .restore import restore_files
from .train import train_pix2pix

# skimage.data photo -> the mosaic's box as fractions (x, y, w, h) of the photo, chosen on
# textured parts (a mosaic of flat sky cannot be told from the sky itself)
PHOTOS = {
    "astronaut": (0.33, 0.15, 0.22, 0.22),  # her face: the safety gate checks it
    "chelsea": (0.06, 0.30, 0.28, 0.45),
    "coffee": (0.60, 0.55, 0.30, 0.35),
    "rocket": (0.02, 0.25, 0.20, 0.40),
    "immunohistochemistry": (0.50, 0.10, 0.35, 0.30),
    "hubble_deep_field": (0.30, 0.35, 0.30, 0.35),
}
SIDE = 384  # demo photos are scaled to this longer side
SIZE = 128  # training crop
PAIR_BLOCKS = (3, 12)
MOSAIC_BLOCK = 8


def bundled_photos() -> dict[str, np.ndarray]:
    """The demo photos (from scikit-image's package data, offline), longer side 384 px."""
    import skimage.data

    photos = {}
    for name in PHOTOS:
        image = getattr(skimage.data, name)()
        scale = SIDE / max(image.shape[:2])
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        photos[name] = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
    return photos


def _calibrated_steps(seconds: float, batch: int, cfg: dict, dataset: Path) -> int:
    """How many training steps fit in ``seconds`` here (timed on a few real steps)."""
    import torch

    device = pick_device("auto")
    data = PairedDataset(dataset, "train", SIZE)
    trainer = Pix2Pix(Pix2PixConfig(**cfg), device,
                      torch.channels_last if device.type != "mps" else torch.contiguous_format,
                      fused_adam(device))
    amp = Amp(device, pick_precision("auto", device))
    batch_data = collate([data[(i % len(data), i)] for i in range(batch)])
    batch_data = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch_data.items()}
    trainer.train_step(batch_data, amp)  # warm-up
    t0 = time.perf_counter()
    for _ in range(3):
        trainer.train_step(batch_data, amp)
    per_step = (time.perf_counter() - t0) / 3
    return max(20, int(seconds / (per_step * 1.15)))  # 15 % for data loading and samples


def run_demo(out_dir: str | Path = "demo-output", minutes: float = 3.0, seed: int = 0,
             sharpness: float | None = None, log: Log = print) -> Path:
    """Run the demo; return the path of the before/after sheet.

    sharpness: where on its dial the shipped model restores (None: its default)."""
    if sharpness is not None:
        check_sharpness(sharpness)  # before minutes of training
    out = Path(out_dir)
    photos = bundled_photos()

    log("1/5 writing the bundled photos and their mosaiced copies")
    masks = {}
    for name, image in photos.items():
        write_image(out / "photos" / f"{name}.png", image)
        h, w = image.shape[:2]
        x, y, bw, bh = PHOTOS[name]
        masks[name] = box_mask(h, w, (round(x * w), round(y * h), round(bw * w), round(bh * h)))
        write_image(out / "mosaiced" / f"{name}.png",
                    mosaic_image(image, masks[name], MOSAIC_BLOCK))

    log("2/5 making training pairs from the clean photos")
    make_pairs(out / "photos", out / "pairs", size=SIZE, per_image=64, block=PAIR_BLOCKS,
                   val=0.0, seed=seed, log=log, progress=False)

    cfg = {"size": SIZE, "ngf": 32, "ndf": 32}
    batch = 4
    steps = _calibrated_steps(minutes * 60, batch, {**cfg, "mask_channel": True},
                              out / "pairs")
    log(f"3/5 training pix2pix at {SIZE} px for about {minutes:g} min ({steps} steps)")
    run = out / "run"
    if (run / "checkpoint.json").exists():
        import shutil

        shutil.rmtree(run)
    train_pix2pix(out / "pairs", run, config=cfg, log=log,
                      loop=LoopOptions(steps=steps, batch=batch, seed=seed,
                                       sample_every=max(steps // 4, 1),
                                       checkpoint_every=max(steps // 4, 1)))

    log("4/5 finding and restoring the mosaics")
    models: dict[str, tuple[Path | str, float | None]] = {"restored": (run, None)}
    with contextlib.suppress(InputError):  # also the models shipped in the package, if any
        default_model(), sharp_model()
        value = DEFAULT_SHARPNESS if sharpness is None else sharpness
        models[f"default model, sharpness {value:g}"] = ("default", value)
    reports = {}
    for label, (model, value) in models.items():
        folder = out / ("restored" if label == "restored" else "restored-default")
        # The demo's own folder: a rerun replaces what the last one wrote.
        reports[label] = (folder, restore_files([out / "mosaiced"], folder, model=model,
                                                sharpness=value, log=log,
                                                output=OutputOptions(overwrite=True)))

    log("5/5 writing the before/after sheet")
    rows = []
    for name, image in photos.items():
        mosaiced = read_image(out / "mosaiced" / f"{name}.png")
        found = find_mosaic(mosaiced)
        row = [(mosaiced, f"{name}: mosaiced"),
               (np.repeat(found[..., None] * np.uint8(255), 3, 2), "found mosaic")]
        for label, (folder, report) in reports.items():
            refused = [n for n in report.notes if f"{name}.png" in n]
            text = label if not refused else f"{label}: kept mosaiced by the safety gate"
            row.append((read_image(folder / output_name(f"{name}.png", "restore")), text))
        # The original is what the mosaic hid: withheld where that is a face.
        original = screened(mosaiced, image, masks[name])
        rows.append([*row, (original, "original" if original is image else
                            "original: withheld by the safety gate")])
    sheet = write_image(out / "sheet.png", before_after_sheet(rows))
    return sheet
