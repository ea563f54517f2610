"""Data-parallel training across processes (launched with torchrun), on torch.distributed.

Each process trains on its own slice of every global batch; after each backward pass the
gradients are averaged across processes (gloo on CPU, NCCL on GPU) before the optimiser
steps, so every process keeps identical weights. This is the arithmetic of
DistributedDataParallel done explicitly: DDP's reducer expects one forward per backward,
while a GAN step calls the discriminator on real and fake, freezes it while the generator
learns, and (CycleGAN) calls each generator up to three times.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # this run started the process group (and ends it)

    @property
    def main(self) -> bool:
        return self.rank == 0


def from_env(device: torch.device) -> Dist:
    """The process's place in a torchrun launch (WORLD_SIZE > 1), else a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    owns = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Dist(rank, world, local_rank, owns)


def average_gradients(params: list[torch.nn.Parameter], world: int) -> None:
    """All-reduce the gradients of ``params`` (one flat buffer) and divide by ``world``."""
    grads = [p.grad for p in params if p.grad is not None]
    if world <= 1 or not grads:
        return
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world
    for g, synced in zip(grads, _unflatten_dense_tensors(flat, grads), strict=True):
        g.copy_(synced)


def broadcast_modules(modules: dict[str, torch.nn.Module]) -> None:
    """Make every process start from rank 0's weights."""
    for module in modules.values():
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, 0)


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` (picklable) on every process."""
    box = [obj]
    dist.broadcast_object_list(box, 0)
    return box[0]


def finish(d: Dist) -> None:
    if d.owns_group and dist.is_initialized():
        dist.destroy_process_group()
