"""Exporting a run's generator(s) alone: the form a model is shipped in (safetensors +
JSON), or an ONNX graph any ONNX runtime can run.

The ONNX graph (``--format onnx``; opset 17) holds the generator exactly as inference runs
it: batch norm as per-sample (instance) norm, dropout off. Input ``input``, float32
``(B, C, H, W)``; output ``output``, float32 ``(B, 3, H, W)``; B, H and W are dynamic, H
and W multiples of the network's ``multiple`` (2**levels for the U-Net: 256 for unet_256,
128 for unet_128; 4 for CycleGAN's ResNet). Images map to [-1, 1] as ``2 * x - 1`` with x
in [0, 1], and the output maps back as ``(y + 1) / 2``.

For a restorer (``mask_channel``) C is 4: the image's three channels, then the mask as
-1 outside the region and +1 inside. The *residual* step is inside the graph: the output
is ``image + mask01 * (clamp(image + 2 * unet(input), -1, 1) - image)``, so pixels outside
the mask come back unchanged. Outside the graph, as mosaicgan does it
(:mod:`mosaicgan.models.restorer`): the *prefill* (for ``prefill: bicubic``, each mosaic
cell inside the region replaced by the bicubic interpolation of the cells' means on the
mosaic's grid, :func:`mosaicgan.baselines.bicubic_from_blocks`) before the image goes in;
the crop around each region (its box grown by half, a multiple of the training size) and
the resize to it; then the cell matching, the feathered paste inside the mask, and the
safety gate, which screens every restored region before it is written. The graph alone
has no gate: what it outputs has not been screened.

A cell restorer (kind ``cells``, :mod:`mosaicgan.nets.cellnet`) takes the mosaic's cells
instead: input ``input``, float32 ``(B, 3, h, w)``, one colour per cell in [0, 1]; output
``output``, float32 ``(B, 3, h * scale, w * scale)`` in [0, 1] (clamp it), ``scale`` px per
cell, bicubic interpolation of the cells included. Reading the cells on the mosaic's grid,
resampling the output to the mosaic's block, cell matching, paste and gate are outside.

The model's settings (kind, size or scale, multiple, mask channel, residual, prefill) are
stored in the ONNX file's metadata. Neither format records where the run was on disk,
only its folder's name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..nets import cellnet, cyclegan, per_sample_norm, pix2pix
from .backends import onnx_model
from .checkpoint import CHECKPOINT_JSON, Checkpoint, load_checkpoint, save_checkpoint
from .sharpness import FINE_TUNED_FROM, recorded_source

FORMATS = ("safetensors", "onnx")


def export_model(run: str | Path, out: str | Path, *, half: bool = True,
                 card: dict[str, Any] | None = None, format: str = "safetensors") -> Path:
    """Write a run's generator(s) alone: as ``<name>.json`` + ``<name>.safetensors``, the
    form a model is shipped in (fp16 by default: half the size, restored to fp32 on load),
    or as ONNX (``format="onnx"``: ``out`` is the .onnx path; a CycleGAN writes
    ``<name>.AtoB.onnx`` and ``<name>.BtoA.onnx``). Returns the (first) file written."""
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    ckpt = load_checkpoint(run)
    if format == "onnx":
        return export_onnx(ckpt, Path(out))[0]
    prefixes = ("G_A.", "G_B.") if ckpt.kind == cyclegan.KIND else ("G.",)
    modules = {}
    for prefix in prefixes:
        state = {k: (v.half() if half and v.is_floating_point() else v)
                 for k, v in ckpt.state_dict(prefix[:-1]).items()}
        modules[prefix[:-1]] = _StateHolder(state)
    out_json = Path(out)
    return save_checkpoint(out_json.parent, kind=ckpt.kind, config=ckpt.config, step=ckpt.step,
                           modules=modules, json_name=out_json.name,
                           extra={"exported_from": source_name(ckpt), "dtype":
                                  "float16" if half else "float32", "card": card or {},
                                  FINE_TUNED_FROM: recorded_source(ckpt.meta)})


def source_name(ckpt: Checkpoint) -> str:
    """What an export says it came from: the run folder's (or model file's) name, never
    an absolute path of the machine it was exported on."""
    path = ckpt.path
    return path.parent.name if path.name == CHECKPOINT_JSON else path.name


def export_onnx(ckpt: Checkpoint, out: Path) -> list[Path]:
    """The checkpoint's generator(s) as ONNX graphs (see the module): the paths written."""
    if ckpt.kind == cellnet.KIND:
        net_cfg = cellnet.CellNetConfig.from_saved(ckpt.config)
        jobs = [("G", out, cellnet.build_cellnet(net_cfg), 3)]
        settings = {"scale": net_cfg.scale, "family": net_cfg.family, "mask_channel": False,
                    "input_range": "[0, 1]"}
    elif ckpt.kind == pix2pix.KIND:
        cfg = ckpt.model_config(pix2pix.Pix2PixConfig)
        jobs = [("G", out, pix2pix.build_generator(cfg), cfg.in_channels)]
        settings = {"size": cfg.size, "mask_channel": cfg.mask_channel,
                    "residual": cfg.residual, "prefill": cfg.prefill}
    else:
        ccfg = ckpt.model_config(cyclegan.CycleGANConfig)
        stem = out.with_suffix("")
        jobs = [(name, Path(f"{stem}.{way}.onnx"), cyclegan.build_generator(ccfg), 3)
                for name, way in (("G_A", "AtoB"), ("G_B", "BtoA"))]
        settings = {"size": ccfg.size, "mask_channel": False, "residual": False,
                    "prefill": "none", "input_range": "[-1, 1]"}
    written = []
    for name, path, generator, channels in jobs:
        ckpt.load_module(name, generator)
        generator = per_sample_norm(generator).eval()
        meta = {"mosaicgan.kind": ckpt.kind, "mosaicgan.generator": name,
                "mosaicgan.multiple": str(getattr(generator, "multiple", 1)),
                "mosaicgan.exported_from": source_name(ckpt),
                **{f"mosaicgan.{k}": str(v) for k, v in settings.items()}}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(_with_metadata(onnx_model(generator, channels), meta))
        tmp.replace(path)
        written.append(path)
    return written


def _with_metadata(model: bytes, meta: dict[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(model)
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = json.dumps(meta)
    return proto.SerializeToString()


class _StateHolder:
    """Quacks like a module for save_checkpoint: a fixed state dict."""

    def __init__(self, state: dict[str, Any]):
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        return self._state

