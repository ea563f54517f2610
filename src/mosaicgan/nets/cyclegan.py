"""The CycleGAN generators as saved and rebuilt: their config and how one is built."""

from __future__ import annotations

from dataclasses import dataclass

from .resnet import ResnetGenerator

KIND = "cyclegan"


@dataclass(frozen=True)
class CycleGANConfig:
    """Everything that defines the models; saved in every checkpoint."""

    size: int = 256
    ngf: int = 64
    ndf: int = 64
    blocks: int | None = None  # None: 9 at 256 and above, 6 below
    d_layers: int = 3
    norm: str = "instance"
    gan_mode: str = "lsgan"
    lambda_a: float = 10.0  # cycle A -> B -> A
    lambda_b: float = 10.0  # cycle B -> A -> B
    lambda_identity: float = 0.5  # identity loss, as a fraction of lambda
    pool_size: int = 50
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    def __post_init__(self) -> None:
        if self.size % 4 or self.size < 16:
            raise ValueError(f"size must be a multiple of 4, at least 16, got {self.size}")

    @property
    def resnet_blocks(self) -> int:
        return self.blocks if self.blocks is not None else (9 if self.size >= 256 else 6)

    @classmethod
    def from_dict(cls, d: dict) -> CycleGANConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown cyclegan config keys: {', '.join(sorted(unknown))}")
        return cls(**d)


def build_generator(cfg: CycleGANConfig) -> ResnetGenerator:
    return ResnetGenerator(3, 3, cfg.ngf, cfg.resnet_blocks, cfg.norm)
