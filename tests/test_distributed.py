"""Two CPU processes (gloo) must train to the same weights as one process with the same
global batch and seed."""

import socket

import pytest
import torch
import torch.multiprocessing as mp

from mosaicgan.models.checkpoint import load_checkpoint
from mosaicgan.train.loop import LoopOptions

from .conftest import FakeDetector, detector_replaced

# Instance norm and no dropout: nothing couples the samples of a batch, so splitting a
# batch of 2 over 2 processes is the same arithmetic as one process with batch 2.
CONFIG = {"size": 32, "ngf": 8, "ndf": 8, "norm": "instance", "dropout": 0.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker(rank: int, world: int, port: int, dataset: str, run: str, steps: int) -> None:
    import os

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from mosaicgan.api import train_pix2pix

    with detector_replaced(FakeDetector()):
        train_pix2pix(dataset, run, config=CONFIG, log=lambda _: None,
                      loop=LoopOptions(steps=steps, batch=1, seed=3, precision="fp32",
                                       progress=False, sample_every=0, checkpoint_every=2))


def test_two_processes_match_one_with_the_same_global_batch(tiny_pairs, tmp_path, no_detections):
    mp.spawn(worker, args=(2, free_port(), str(tiny_pairs), str(tmp_path / "ddp"), 4),
             nprocs=2, join=True)
    from mosaicgan.api import train_pix2pix

    train_pix2pix(tiny_pairs, tmp_path / "one", config=CONFIG,
                  log=lambda _: None,
                  loop=LoopOptions(steps=4, batch=2, seed=3, precision="fp32", progress=False,
                                   sample_every=0))
    ddp, one = load_checkpoint(tmp_path / "ddp"), load_checkpoint(tmp_path / "one")
    assert ddp.step == one.step == 4
    # Conv biases in front of an instance norm have zero true gradient, and Adam turns
    # float noise there into steps of size lr: compare weights, and the networks' outputs.
    weights = [k for k in one.tensors if k.startswith(("G.", "D.")) and k.endswith("weight")]
    assert len(weights) > 10
    for key in weights:
        torch.testing.assert_close(ddp.tensors[key], one.tensors[key], rtol=1e-4, atol=1e-5,
                                   msg=key)
    from mosaicgan.nets.pix2pix import Pix2PixConfig, build_generator

    outputs = []
    for ckpt in (ddp, one):
        G = build_generator(Pix2PixConfig.from_dict(ckpt.config))
        ckpt.load_module("G", G)
        with torch.no_grad():
            outputs.append(G.eval()(torch.linspace(-1, 1, 4 * 32 * 32).view(1, 4, 32, 32)))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_a_distributed_checkpoint_resumes_in_one_process(tiny_pairs, tmp_path, no_detections):
    mp.spawn(worker, args=(2, free_port(), str(tiny_pairs), str(tmp_path / "run"), 2),
             nprocs=2, join=True)
    from mosaicgan.api import train_pix2pix

    result = train_pix2pix(tiny_pairs, tmp_path / "run", resume=True,
                           log=lambda _: None,
                           loop=LoopOptions(steps=4, batch=2, seed=3, precision="fp32",
                                            progress=False, sample_every=0))
    assert result.step == 4
