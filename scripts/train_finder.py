"""How the learned mosaic finder shipped in src/mosaicgan/weights/finder.* was made.

Trains :class:`mosaicgan.nets.mosaicseg.MosaicSeg` on synthetic mosaics
(:mod:`mosaicgan.data.finder`) made on the licensed Debian photos only, each photo
screened first (a photo where the project's detectors see a face or nudity is left out).
Four photos are held out for validation (mean IoU of the thresholded mask, printed at
every checkpoint); the held-out benchmark sets (CBSD68, Sun-Hays) are never seen.
Resumable: run it again with the same --out and it goes on from the last checkpoint.

    .venv/bin/python scripts/train_finder.py --photos ../shared/data/photos/debian \\
        --out /tmp/finder-run --minutes 60
    .venv/bin/python scripts/train_finder.py --out /tmp/finder-run --export  # weights
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from mosaicgan import safety
from mosaicgan.data.finder import sample
from mosaicgan.imageio import atomic_path, read_image, write_json
from mosaicgan.nets.mosaicseg import BLOCKS, PYRAMID, WIDTHS, MosaicSeg
from mosaicgan.walk import list_images

MAX_SIDE = 1600  # photos are downscaled to this first (crops zoom out further)
HELD_OUT = 4
WEIGHTS = Path(__file__).resolve().parents[1] / "src/mosaicgan/weights/finder.safetensors"


def load_photos(folder: Path) -> tuple[list[np.ndarray], list[str], list[str]]:
    """The folder's photos, downscaled, with those the safety screen flags left out."""
    photos, names, dropped = [], [], []
    for path in list_images([folder]):
        image = read_image(path)
        scale = MAX_SIDE / max(image.shape[:2])
        if scale < 1:
            image = cv2.resize(image, (round(image.shape[1] * scale),
                                       round(image.shape[0] * scale)),
                               interpolation=cv2.INTER_AREA)
        reasons = safety.screen_image(image)
        if reasons:
            dropped.append(f"{path.name}: {', '.join(reasons)}")
            continue
        photos.append(image)
        names.append(path.name)
    return photos, names, dropped


class Samples(torch.utils.data.IterableDataset):
    """An endless stream of (image, mask) tensors from the photos, seeded per worker."""

    def __init__(self, photos: list[np.ndarray], seed: int, size: int) -> None:
        self.photos, self.seed, self.size = photos, seed, size

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        while True:
            photo = self.photos[int(rng.integers(len(self.photos)))]
            image, mask = sample(photo, rng, self.size)
            yield (torch.from_numpy(image).permute(2, 0, 1).float() / 255,
                   torch.from_numpy(mask)[None].float())


def loss_of(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus a soft IoU over the batch (masks are a small share)."""
    p = torch.sigmoid(logits)
    inter = (p * truth).sum()
    union = (p + truth - p * truth).sum()
    return F.binary_cross_entropy_with_logits(logits, truth) + (1 - (inter + 1) / (union + 1))


def validate(model: MosaicSeg, val: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean IoU (an empty truth and an empty find score 1) over the validation samples."""
    model.eval()
    scores = []
    with torch.no_grad():
        for image, truth in val:
            x = torch.from_numpy(image.copy()).permute(2, 0, 1)[None].float() / 255
            found = (model(x)[0, 0] > 0).numpy()
            union = (found | truth).sum()
            scores.append(1.0 if union == 0 else (found & truth).sum() / union)
    model.train()
    return float(np.mean(scores))


def train(args: argparse.Namespace) -> None:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / "checkpoint.pt"
    photos, names, dropped = load_photos(args.photos)
    print(f"{len(photos)} photos ({len(dropped)} left out by the screen: {dropped})")
    train_photos, val_photos = photos[:-HELD_OUT], photos[-HELD_OUT:]
    rng = np.random.default_rng(12345)
    val = [sample(val_photos[i % HELD_OUT], rng, args.size) for i in range(args.val)]
    torch.manual_seed(args.seed)
    model = MosaicSeg()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    step, seconds, history = 0, 0.0, []
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, seconds, history = state["step"], state["seconds"], state["history"]
        print(f"resumed at step {step} ({seconds / 60:.1f} min trained)")
    # a new seed at each resume: the stream does not repeat the samples already seen
    stream = torch.utils.data.DataLoader(Samples(train_photos, args.seed + step, args.size),
                                         batch_size=args.batch, num_workers=1,
                                         prefetch_factor=4, persistent_workers=True)
    budget = args.minutes * 60
    total_steps = args.steps
    start, last_save, running = time.time(), time.time(), []
    for images, truth in stream:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total_steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        loss = loss_of(model(images), truth)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        running.append(float(loss.detach()))
        now = time.time()
        done = step >= total_steps or seconds + now - start >= budget
        if done or now - last_save > args.save_every or step % 500 == 0:
            score = validate(model, val)
            history.append({"step": step, "loss": float(np.mean(running)), "val_iou": score,
                            "minutes": (seconds + now - start) / 60})
            print(f"step {step}: loss {np.mean(running):.4f}, validation IoU {score:.3f}, "
                  f"lr {lr:.2e}, {(seconds + now - start) / 60:.1f} min", flush=True)
            running = []
            with atomic_path(state_path) as tmp:
                torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                            "step": step, "seconds": seconds + now - start,
                            "history": history, "photos": names, "dropped": dropped,
                            "args": {k: str(v) for k, v in vars(args).items()}}, tmp)
            last_save = now
        if done:
            break


def export(args: argparse.Namespace) -> None:
    state = torch.load(args.out / "checkpoint.pt", weights_only=False)
    model = MosaicSeg()
    model.load_state_dict(state["model"])
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"kind": "mosaicseg", "widths": list(WIDTHS), "blocks": list(BLOCKS),
            "pyramid": PYRAMID, "steps": state["step"],
            "cpu_minutes": round(state["seconds"] / 60, 1),
            "validation_iou": state["history"][-1]["val_iou"],
            "training_photos": state["photos"][:-HELD_OUT],
            "validation_photos": state["photos"][-HELD_OUT:], "left_out": state["dropped"]}
    with atomic_path(WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"kind": "mosaicseg"})
        os.chmod(tmp, 0o644)  # safetensors writes its file private
    write_json(WEIGHTS.with_suffix(".json"), meta)
    print(f"wrote {WEIGHTS} ({os.path.getsize(WEIGHTS) / 1e6:.2f} MB) and its .json")
    print(json.dumps(meta["validation_iou"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=Path, default=Path("../shared/data/photos/debian"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--steps", type=int, default=20000, help="cosine schedule length")
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--val", type=int, default=96, help="validation samples")
    parser.add_argument("--save-every", type=float, default=300, help="seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--export", action="store_true", help="write the shipped weights")
    args = parser.parse_args()
    export(args) if args.export else train(args)


if __name__ == "__main__":
    main()
