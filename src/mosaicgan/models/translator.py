"""Whole-image translation with a trained generator (CycleGAN either way, or pix2pix).

Any image size: the image is padded to what the network needs and cropped back; images
larger than ``max_side`` are cut into overlapping tiles that are blended. Every output
passes the safety gate: one with nudity, or with a face where the input showed none, is
refused and nothing is written for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .. import safety
from ..errors import ModelError
from ..nets import cyclegan, per_sample_norm, pix2pix
from .backends import fast_generator
from .checkpoint import load_checkpoint
from .device import pick_device

MAX_SIDE = 1024  # larger images are translated in tiles
OVERLAP = 64


@dataclass
class TranslateResult:
    image: np.ndarray | None  # (H, W, 3) uint8, None when refused
    refused: list[str] = field(default_factory=list)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """Pad ``(B, C, H, W)`` at the bottom/right to multiples of ``multiple`` (reflecting
    where the image is large enough, else replicating). Returns the padded tensor and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of ``tile`` px covering ``length`` with at least ``overlap``."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = [*range(0, length - tile, step), length - tile]
    return sorted(set(starts))


def ramp(length: int, overlap: int) -> Tensor:
    """1-D blending weights: rising over ``overlap`` px at each end, 1 in the middle."""
    r = torch.ones(length)
    n = min(overlap, length // 2)
    if n > 0:
        edge = (torch.arange(n) + 0.5) / n
        r[:n], r[-n:] = edge, edge.flip(0)
    return r


class Translator:
    """A loaded generator for whole images. Build once, call on many images."""

    def __init__(self, generator: torch.nn.Module, multiple: int, device: torch.device,
                 mask_channel: bool = False, source: str = "", max_side: int = MAX_SIDE,
                 direction: str = "AtoB"):
        # The fastest backend here (torch, ONNX Runtime, OpenVINO), measured on first use.
        self._net = fast_generator(per_sample_norm(generator).to(device).eval(), device,
                                {"use": "translate"})
        self.multiple = multiple
        self.device = device
        self.mask_channel = mask_channel
        self.source = source
        self.direction = direction  # which of a CycleGAN's generators (its checkpoint's)
        self.max_side = max(max_side, multiple)

    @classmethod
    def from_checkpoint(cls, path: str | Path, direction: str = "AtoB", device: str = "auto"
                        ) -> Translator:
        ckpt = load_checkpoint(path)
        if direction not in ("AtoB", "BtoA"):
            raise ValueError(f"unknown direction {direction!r}; choose AtoB or BtoA")
        if ckpt.kind == cyclegan.KIND:
            cfg = ckpt.model_config(cyclegan.CycleGANConfig)
            G = cyclegan.build_generator(cfg)
            ckpt.load_module("G_A" if direction == "AtoB" else "G_B", G)
            multiple = G.multiple
        elif ckpt.kind == pix2pix.KIND:
            pcfg = ckpt.model_config(pix2pix.Pix2PixConfig)
            if pcfg.mask_channel:
                raise ModelError(f"{ckpt.path}: is a restoration model (it takes a mask); use "
                                 "`mosaicgan restore` for it")
            if direction != "AtoB":
                raise ModelError(f"{ckpt.path}: a pix2pix model translates one way only, the "
                                 "way it was trained; drop --direction")
            G = pix2pix.build_generator(pcfg)
            ckpt.load_module("G", G)
            multiple = G.multiple
        else:
            raise ModelError(f"{ckpt.path}: cannot translate with a {ckpt.kind} model")
        return cls(G, multiple, pick_device(device), False, str(ckpt.path),
                   direction=direction)

    @torch.no_grad()
    def _run(self, x: Tensor) -> Tensor:
        """Generator on ``(B, 3, h, w)`` in [0, 1] of any size -> same size, [0, 1]."""
        padded, (h, w) = pad_to_multiple(x, self.multiple)
        net_in = pix2pix.generator_input(padded, None, self.mask_channel).to(self.device)
        out = pix2pix.generator_output(self._net(net_in)).cpu()
        return out[..., :h, :w]

    @torch.no_grad()
    def _generate(self, image: np.ndarray) -> np.ndarray:
        """The generator's output (ungated) for an ``(H, W, 3)`` uint8 image, same size."""
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        h, w = image.shape[:2]
        if max(h, w) <= self.max_side:
            y = self._run(x)
        else:
            tile = self.max_side - self.max_side % self.multiple
            overlap = min(OVERLAP, tile // 4)
            acc = torch.zeros(1, 3, h, w)
            weight = torch.zeros(1, 1, h, w)
            for top in tile_starts(h, tile, overlap):
                for left in tile_starts(w, tile, overlap):
                    part = x[..., top:top + tile, left:left + tile]
                    th, tw = part.shape[-2:]
                    wgt = ramp(th, overlap)[:, None] * ramp(tw, overlap)[None, :]
                    acc[..., top:top + th, left:left + tw] += self._run(part) * wgt
                    weight[..., top:top + th, left:left + tw] += wgt
            y = acc / weight
        return (y[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()

    @torch.no_grad()
    def _generate_batch(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """:meth:`_generate` for several images; those of one size (that need no tiling)
        share a generator call. Results equal one-at-a-time calls (per-sample norms)."""
        outs: list[np.ndarray | None] = [None] * len(images)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            if max(image.shape[:2]) <= self.max_side:
                groups.setdefault(image.shape, []).append(i)
            else:
                outs[i] = self._generate(image)
        for idx in groups.values():
            x = torch.from_numpy(np.stack([images[i] for i in idx])).permute(0, 3, 1, 2)
            y = self._run(x.float() / 255)
            batch = (y.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).numpy()
            for i, out in zip(idx, batch, strict=True):
                outs[i] = out
        return [o for o in outs if o is not None]

    def translate(self, image: np.ndarray) -> TranslateResult:
        """Translate and screen: an output the gate refuses (nudity, or a face the input
        did not show there) is refused (image None)."""
        return _screened(image, self._generate(image))

    def translate_batch(self, images: list[np.ndarray]) -> list[TranslateResult]:
        """:meth:`translate` for several images (same-size ones share a generator call)."""
        return [_screened(image, out)
                for image, out in zip(images, self._generate_batch(images), strict=True)]


def _screened(image: np.ndarray, out: np.ndarray) -> TranslateResult:
    reasons = safety.screen_translation(image, out)
    return TranslateResult(None, reasons) if reasons else TranslateResult(out)


def load_translator(model: str | Path, direction: str = "AtoB", device: str = "auto"
                    ) -> Translator:
    """A Translator from a CycleGAN or pix2pix run folder or model JSON."""
    return Translator.from_checkpoint(model, direction, device)
