"""The image pool (Shrivastava et al. 2017, as in CycleGAN): discriminators see a mix of
current fakes and up to ``size`` earlier ones, which steadies GAN training.

Randomness comes from torch's global generator, whose state the checkpoint saves, and the
pool's contents are saved too, so a resumed run draws what an uninterrupted one would.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, size: int = 50):
        self.size = size
        self.images: list[Tensor] = []

    def query(self, images: Tensor) -> Tensor:
        """Return a batch like ``images``: each item is the new one, or (half the time, once
        the pool is full) an old one from the pool, replaced by the new one."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image[None]
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(()) < 0.5:
                i = int(torch.randint(0, self.size, ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state(self) -> Tensor | None:
        return torch.cat(self.images, 0) if self.images else None

    def load_state(self, stacked: Tensor | None, device: torch.device) -> None:
        self.images = [] if stacked is None else [t[None].to(device) for t in stacked]
