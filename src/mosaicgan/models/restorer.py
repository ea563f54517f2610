"""Restore mosaiced regions: crop around each region, run the generator, paste inside the mask.

Pixels outside every mask are returned exactly as given. Every restored region passes
the safety gate first: where a face or nudity is detected in it, the region is left as
the input had it (still mosaiced) and the result says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .. import safety
from ..baselines import bicubic_from_blocks
from ..errors import ModelError
from ..find import (
    CellGrid,
    MosaicRegion,
    cell_grid,
    find_mosaic_regions,
    find_regions,
    match_cell_means,
    regions_mask,
    resample,
    to_integer_grid,
)
from ..geometry import Box, clip_box, component_masks, components, context_box, hull, pad_box
from ..nets import cellnet, per_sample_norm
from ..nets.pix2pix import KIND, Pix2PixConfig, build_generator, generator_input, generator_output
from ..options import DEFAULT_SHARPNESS
from .backends import fast_generator
from .checkpoint import load_checkpoint
from .device import pick_device
from .sharpness import check_sharpness, load_interpolated, model_pair
from .shipped import default_model

CONTEXT = 1.5  # the generator sees the region's box grown by half
FEATHER = 2  # px of blending inside the mask edge
MIN_REGION_AREA = 16  # px; smaller mask specks are left alone
MAX_NATIVE = 4  # windows up to 4x the training size run at full resolution; larger shrink
# Pixels per generator call: bounds the activations in memory whatever the regions' sizes
# (a 768-px window of a 720p video is 0.6 M px; a U-Net holds ~40 B/px per ngf=16 at it).
GENERATOR_PIXELS = 1 << 21


# A mosaic's grid: the region it covers, its block size and a grid corner (x, y).
Grid = tuple[np.ndarray, CellGrid]
# The block sizes the restorers here are trained on (mosaicgan pairs' default, 6-24 px): a
# region of a rescaled mosaic is resampled so its cells are one of them.
TRAINED_BLOCKS = (6, 24)
CELL_WINDOW = 32  # a cell restorer's windows: multiples of this many px
NO_GRID = "no mosaic grid found in it (a cell restorer restores mosaics only)"


@dataclass
class RegionPlan:
    """One region to restore: see :meth:`Restorer._plan`."""

    box: Box  # the region's box: what the gate screens
    region: np.ndarray  # (H, W) bool: the pixels replaced
    window: tuple[int, int, int]  # (x, y, side) of the crop in the image
    crop: np.ndarray  # (side, side, 3) uint8: the generator's input
    crop_mask: np.ndarray  # (side, side) bool: the mask the generator sees
    grid: tuple[int, tuple[int, int]] | None  # the mosaic's (block, origin), if known
    key: Any = None  # the caller's tag (a video track)
    rescaled: Rescaled | None = None  # a region planned on its resampled neighbourhood
    # (x, y) in the image of the array the plan is pasted into (restore() pastes into a
    # region's neighbourhood); box, window and grid stay in the image's pixels.
    offset: tuple[int, int] = (0, 0)


@dataclass
class Rescaled:
    """A region restored at the scale its model was trained on: its neighbourhood resampled
    (affine map ``m``, source -> plan space) so that its grid's cells are whole squares of
    a trained block size. ``image`` and ``region`` are that neighbourhood in plan space
    (the paste's base); the window, crop and grid of the plan are in plan space too."""

    m: np.ndarray
    image: np.ndarray
    region: np.ndarray


@dataclass
class RegionOutcome:
    box: Box
    restored: bool
    reasons: list[str] = field(default_factory=list)  # why it was not written
    key: Any = None  # the plan's key

    def as_dict(self) -> dict:
        d = {"box": list(self.box), "restored": self.restored}
        if self.reasons:
            d["reasons"] = self.reasons
        return d


@dataclass
class RestoreResult:
    image: np.ndarray  # (H, W, 3) uint8
    regions: list[RegionOutcome]
    # areas the finder saw as mosaiced but found no grid of cells in: left as they were
    unrestorable: list[Box] = field(default_factory=list)

    @property
    def synthesized(self) -> list[Box]:
        return [r.box for r in self.regions if r.restored]

    @property
    def refused(self) -> list[RegionOutcome]:
        return [r for r in self.regions if not r.restored]


def feather_alpha(mask: np.ndarray, width: int = FEATHER) -> np.ndarray:
    """``(H, W)`` float32 alpha: 0 outside the mask, ramping to 1 ``width`` px inside it.

    The image border is not an edge: a region touching it is replaced up to the border.
    """
    pad = width + 1
    inside = np.pad(mask.astype(np.uint8), pad, constant_values=1)
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[pad:-pad, pad:-pad]
    return (np.clip(dist / pad, 0, 1) * mask).astype(np.float32)


def regions_of(mask: np.ndarray, min_area: int = MIN_REGION_AREA) -> list[tuple[Box, np.ndarray]]:
    """(bounding box, region mask) of each 8-connected component, largest first."""
    return component_masks(mask, min_area)


def window_for(box: Box, width: int, height: int, size: int) -> tuple[int, int, int]:
    """A square window (x, y, side) around ``box`` with context: a multiple of ``size``
    (the generator runs on it at the image's own scale, so blocks look as in training).

    The window may stick out of the image (it is padded there).
    """
    x, y, w, h = box
    side = max(size, int(np.ceil(max(w, h) * CONTEXT)))
    side = -(-side // size) * size
    cx, cy = x + w / 2, y + h / 2
    wx = round(cx - side / 2)
    wy = round(cy - side / 2)
    # Shift the window inside the image where the image is large enough.
    wx = min(max(wx, 0), max(width - side, 0)) if width >= side else wx
    wy = min(max(wy, 0), max(height - side, 0)) if height >= side else wy
    return wx, wy, side


def crop_padded(arr: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """``arr[y:y+side, x:x+side]``, edge-replicated where the window leaves the image."""
    h, w = arr.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    crop = arr[y0:y1, x0:x1]
    pads = (y0 - y, y + side - y1, x0 - x, x + side - x1)
    if any(pads):
        widths = [(pads[0], pads[1]), (pads[2], pads[3])] + [(0, 0)] * (arr.ndim - 2)
        crop = np.pad(crop, widths, mode="edge")
    return crop


class Restorer:
    """A loaded restoration generator. Build once, call on many images.

    Restoring is one chain for images and video: :meth:`_plan` a region (its window and
    the generator's crop), then :meth:`_run` the plans of one or more frames: the generator
    runs on all their crops in batches, and each result is committed (pasted, then
    screened by the safety gate) in turn. Nothing public returns ungated pixels.
    """

    def __init__(self, generator: torch.nn.Module, cfg: Pix2PixConfig, device: torch.device,
                 source: str = "", match_cells: bool = True, sharpness: float | None = None,
                 weights_key: str | None = None):
        # The fastest backend here (torch, ONNX Runtime, OpenVINO), measured on first use
        # (once per set of weights, or per dial: weights_key).
        workload = {"use": "restore", **({"weights": weights_key} if weights_key else {})}
        self._net = fast_generator(per_sample_norm(generator).to(device).eval(), device, workload)
        self.cfg = cfg
        self.device = device
        self.source = source
        self.sharpness = sharpness  # where on the dial its weights are (None: not a pair's)
        # Shift each restored cell back to the mosaic's colour for it (find/cells.py): never
        # further from the truth, and it removes the generator's colour drift.
        self.match_cells = match_cells

    needs_grid = False  # a region without a mosaic grid can still be restored

    @property
    def window_multiple(self) -> int:
        """Window sides are multiples of this: the U-Net's training crop (blocks then look
        as in training)."""
        return self.cfg.size

    @property
    def prefill(self) -> str:
        """How the generator's input is prefilled (what it was trained on)."""
        return self.cfg.prefill

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto",
                        match_cells: bool = True, sharpness: float | None = None) -> Restorer:
        """The restorer in ``path``; with ``sharpness`` (0 to 1), its generator interpolated
        between the pair ``path`` belongs to (:mod:`.sharpness`): 0 the faithful model,
        1 the sharp one."""
        if sharpness is not None:
            sharpness = check_sharpness(sharpness)  # (before any file is read)
        ckpt = load_checkpoint(path)
        if ckpt.kind == cellnet.KIND:
            return CellRestorer.from_cells_checkpoint(ckpt, device, match_cells, sharpness)
        if ckpt.kind != KIND:
            raise ModelError(f"{ckpt.path}: is a {ckpt.kind} model; restore needs a pix2pix "
                             "restoration model")
        cfg = ckpt.model_config(Pix2PixConfig)
        if not cfg.mask_channel:
            raise ModelError(f"{ckpt.path}: was trained without masks (an image translation "
                             "model); use `mosaicgan translate` for it")
        G = build_generator(cfg)
        if sharpness is None:
            ckpt.load_module("G", G)
            return cls(G, cfg, pick_device(device), str(ckpt.path), match_cells)
        pair = model_pair(ckpt)
        load_interpolated(pair, sharpness, "G", G)
        # Between the ends the dial's points share one backend decision; at an end the
        # weights are that model's own, and so is its decision (the same outputs exactly).
        return cls(G, cfg, pick_device(device), pair.describe(sharpness), match_cells,
                   sharpness, pair.key() if 0 < sharpness < 1 else None)

    def _generated(self, plans: list[RegionPlan], batch: int) -> list[np.ndarray]:
        """The generator's (ungated) output for each plan's crop, in batches of at most
        ``batch`` crops and :data:`GENERATOR_PIXELS` (a test's oracle replaces this)."""
        out: list[np.ndarray] = []
        for part in chunks([p.crop.shape[0] ** 2 for p in plans], batch, GENERATOR_PIXELS):
            out += self._generate_batch([plans[i].crop for i in part],
                                        [plans[i].crop_mask for i in part])
        return out

    @torch.no_grad()
    def _generate_batch(self, images: list[np.ndarray], masks: list[np.ndarray]
                        ) -> list[np.ndarray]:
        """Generator output (ungated) for square ``(S, S, 3)`` uint8 crops
        (any sides) and their ``(S, S)`` bool masks.

        A crop whose side is a multiple of the training size (up to 4x) runs at full
        resolution; others are resized to the nearest such side and back. Crops of one
        side share a generator call.
        """
        size = self.cfg.size
        work = [min(-(-im.shape[0] // size) * size, MAX_NATIVE * size) for im in images]
        outs: list[np.ndarray | None] = [None] * len(images)
        for side in sorted(set(work)):
            idx = [i for i, w in enumerate(work) if w == side]
            xs, ms = [], []
            for i in idx:
                image, mask = images[i], masks[i]
                if image.shape[0] != side:
                    image = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA
                                       if image.shape[0] > side else cv2.INTER_CUBIC)
                    mask = cv2.resize(mask.astype(np.uint8), (side, side),
                                      interpolation=cv2.INTER_NEAREST) > 0
                xs.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
                ms.append(torch.from_numpy(np.ascontiguousarray(mask))[None])
            x = torch.stack(xs).float() / 255
            net_in = generator_input(x, torch.stack(ms), True).to(self.device)
            y = generator_output(self._net(net_in))
            batch = (y.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            for i, out in zip(idx, batch, strict=True):
                side_in = images[i].shape[0]
                outs[i] = out if side_in == side else cv2.resize(
                    out, (side_in, side_in), interpolation=cv2.INTER_CUBIC)
        return [o for o in outs if o is not None]

    @property
    def uses_grids(self) -> bool:
        """Whether restoring needs the mosaics' grids (prefill, cell matching)."""
        return self.prefill == "bicubic" or self.match_cells

    def _prefilled(self, image: np.ndarray, regions: list[np.ndarray],
                  grids: list[Grid] | None) -> np.ndarray:
        """The generator's view of ``image``: for a model trained on bicubic-prefilled
        input, each region's cells replaced by the bicubic interpolation of their means on
        the grid that overlaps it most (a region without one stays as it is)."""
        if self.prefill != "bicubic":
            return image
        for region in regions:
            grid = grid_for(region, grids)
            if grid is not None and grid.is_integer:  # (a rescaled one: in its plan)
                image = bicubic_from_blocks(image, region, grid.block, grid.origin)
        return image

    def _plan(self, source: np.ndarray, region: np.ndarray, box: Box,
              window: tuple[int, int, int], grids: list[Grid] | None = None,
              seen: np.ndarray | None = None, key: Any = None) -> RegionPlan:
        """What restoring one region takes: the generator's crop of ``source`` (the image
        as the generator should see it, prefilled) in ``window``, the mask it sees there
        (``seen``, default the region itself), and the region's grid for cell matching.

        A region on the grid of a rescaled mosaic (fractional pitch, or cells that are not
        square) is planned on its neighbourhood resampled so that the cells are squares of
        a trained block size: the generator sees it as in training, and the result is
        resampled back (:class:`Rescaled`)."""
        grid = grid_for(region, grids)
        if grid is not None and not grid.is_integer:
            return self._plan_rescaled(source, region, box, grid, seen, key)
        wx, wy, side = window
        cells = (grid.block, grid.origin) if grid is not None else None
        return RegionPlan(box, region, window, crop_padded(source, wx, wy, side),
                          crop_padded(region if seen is None else seen, wx, wy, side), cells,
                          key)

    def _plan_rescaled(self, source: np.ndarray, region: np.ndarray, box: Box,
                       grid: CellGrid, seen: np.ndarray | None, key: Any) -> RegionPlan:
        height, width = source.shape[:2]
        q = self._plan_block(grid)
        wx, wy, side = window_for(box, width, height, self.window_multiple)
        roi = (max(0, wy), min(height, wy + side), max(0, wx), min(width, wx + side))
        m, size = to_integer_grid(grid, roi, q)
        image = resample(source, m, size)
        plan_region = resample(region.astype(np.uint8) * 255, m, size) >= 128
        plan_seen = plan_region if seen is None else resample(
            seen.astype(np.uint8) * 255, m, size) >= 128
        view = image
        if self.prefill == "bicubic":
            view = bicubic_from_blocks(image, plan_region, q, (0, 0))
        ys, xs = np.nonzero(plan_region)
        plan_box = (int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
        px, py, pside = window_for(plan_box, size[0], size[1], self.window_multiple)
        return RegionPlan(box, region, (px, py, pside), crop_padded(view, px, py, pside),
                          crop_padded(plan_seen, px, py, pside), (q, (0, 0)), key,
                          Rescaled(m, image, plan_region))

    def _plan_block(self, grid: CellGrid) -> int:
        """The block a rescaled grid's cells are resampled to: the nearest trained one."""
        return min(max(grid.block, TRAINED_BLOCKS[0]), TRAINED_BLOCKS[1])

    def _run(self, images: list[np.ndarray], plans: list[list[RegionPlan]],
             batch: int = 8) -> list[tuple[np.ndarray, list[RegionOutcome]]]:
        """Restore the planned regions of each image: the generator runs on every crop (in
        batches of at most ``batch`` crops and :data:`GENERATOR_PIXELS`), then each
        region is pasted and screened in turn; a region the gate refuses stays as the
        image had it. Returns each image with its regions' outcomes."""
        generated = self._generated([p for frame_plans in plans for p in frame_plans], batch)
        results = []
        done = iter(generated)
        for image, frame_plans in zip(images, plans, strict=True):
            out, outcomes = image, []
            for p in frame_plans:
                if p.grid is None and self.needs_grid:
                    next(done)
                    outcomes.append(RegionOutcome(p.box, False, [NO_GRID], p.key))
                    continue
                candidate = _paste(out, p, next(done), self.match_cells)
                reasons = safety.screen_region(candidate, _moved(p.box, p.offset, -1))
                if reasons:
                    outcomes.append(RegionOutcome(p.box, False, reasons, p.key))
                    continue
                out = candidate
                outcomes.append(RegionOutcome(p.box, True, key=p.key))
            results.append((out, outcomes))
        return results

    def restore(self, image: np.ndarray, mask: np.ndarray,
                grids: list[Grid] | None = None) -> RestoreResult:
        """Restore ``image`` ``(H, W, 3)`` uint8 inside ``mask`` ``(H, W)`` bool.

        grids: the mosaics' grids where known (when not given, found with find-mosaic in
        each region's window: the view the generator gets). A region gets the grid that
        overlaps it most: a model trained on bicubic-prefilled input starts from that
        prefill, and the restored cells are shifted to the means the mosaic gives them
        (``match_cells``). A region without a grid (not a mosaic, or
        not found) gets neither. Regions are restored one after the other, each seeing
        the ones before it restored.
        """
        if mask.shape != image.shape[:2]:
            raise ValueError(f"mask is {mask.shape}, image is {image.shape[:2]}")
        out = image
        height, width = image.shape[:2]
        outcomes = []
        # Each region is restored on its neighbourhood (the part of the image its window,
        # prefill, grid and gate read), so the cost follows the region, not the image.
        for box, local in components(mask, MIN_REGION_AREA, largest_first=True):
            window = window_for(box, width, height, self.window_multiple)
            near = _placed(grids)
            if self.uses_grids and grids is None:  # the grids the generator's view shows
                vx, vy, vw, vh = clip_box((window[0], window[1], window[2], window[2]),
                                          width, height)
                near = _placed(grids_of(image[vy:vy + vh, vx:vx + vw]), vx, vy)
            nx, ny, nw, nh = neighbourhood(box, window, width, height, near)
            region = np.zeros((nh, nw), bool)
            region[box[1] - ny:box[1] - ny + box[3], box[0] - nx:box[0] - nx + box[2]] = local
            crop, seen = out[ny:ny + nh, nx:nx + nw], mask[ny:ny + nh, nx:nx + nw]
            local_grids = _grids_in(near, (nx, ny, nw, nh))
            plan = self._plan(self._prefilled(crop, [region], local_grids), region,
                              _moved(box, (nx, ny), -1),
                              (window[0] - nx, window[1] - ny, window[2]), local_grids,
                              seen=seen)
            [(done, [outcome])] = self._run([crop], [[_in_image(plan, (nx, ny))]])
            outcomes.append(outcome)
            if outcome.restored:
                out = image.copy() if out is image else out
                out[ny:ny + nh, nx:nx + nw] = done
        return RestoreResult(out if out is not image else image.copy(), outcomes)


class CellRestorer(Restorer):
    """A restorer whose generator works on the mosaic's cells (:mod:`mosaicgan.nets.cellnet`):
    each window's cells are read on the region's grid (with the context around it, on the
    same grid), the network gives ``scale`` px per cell, and that is resampled to the
    mosaic's block. The same plans, paste, cell matching and gate as the U-Net's."""

    needs_grid = True
    window_multiple = CELL_WINDOW  # type: ignore[assignment]
    prefill = "none"  # type: ignore[assignment]

    @classmethod
    def from_cells_checkpoint(cls, ckpt: Any, device: str, match_cells: bool,
                              sharpness: float | None) -> CellRestorer:
        if sharpness is not None:
            raise ModelError(f"{ckpt.path}: a cell restorer has no sharpness dial yet; "
                             "leave out --sharpness")
        try:
            cfg = cellnet.CellNetConfig.from_saved(ckpt.config)
        except (TypeError, ValueError) as exc:
            raise ModelError(f"{ckpt.path}: {exc}") from None
        net = cellnet.build_cellnet(cfg)
        ckpt.load_module("G", net)
        return cls(net, cfg, pick_device(device), str(ckpt.path),  # type: ignore[arg-type]
                   match_cells)

    def _plan_block(self, grid: CellGrid) -> int:
        return self.cfg.scale  # the network's own: no resampling of its output

    def _generated(self, plans: list[RegionPlan], batch: int) -> list[np.ndarray]:
        return [p.crop if p.grid is None else self._window(p) for p in plans]

    @torch.no_grad()
    def _window(self, plan: RegionPlan) -> np.ndarray:
        """The network's (ungated) restoration of the plan's window."""
        block, (gx, gy) = plan.grid  # type: ignore[misc]
        wx, wy, side = plan.window
        crop = plan.crop
        cells, (x0, y0) = cell_grid(crop, block, ((gx - wx) % block, (gy - wy) % block),
                                    (0, 0, side, side))
        x = torch.from_numpy(cells).permute(2, 0, 1)[None] / 255
        y = self._net(x.to(self.device))
        out = (y[0].float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        rows, cols = cells.shape[:2]
        if block != self.cfg.scale:
            out = cv2.resize(out, (cols * block, rows * block),
                             interpolation=cv2.INTER_AREA if block < self.cfg.scale
                             else cv2.INTER_CUBIC)
        return np.ascontiguousarray(out[-y0:-y0 + side, -x0:-x0 + side])


# Grids as restore() carries them: (mask, grid, (x, y) of the mask's corner in the image).
PlacedGrid = tuple[np.ndarray, CellGrid, tuple[int, int]]


def _placed(grids: list[Grid] | None, x: int = 0, y: int = 0) -> list[PlacedGrid] | None:
    return None if grids is None else [(m, g, (x, y)) for m, g in grids]


def neighbourhood(box: Box, window: tuple[int, int, int], width: int, height: int,
                  grids: list[PlacedGrid] | None = None) -> Box:
    """The part of the image that restoring the region ``box`` reads: its ``window``
    (grown by two cells of the coarsest grid, the reach of the prefill's cells and of a
    rescaled grid's resampling) and the safety gate's widest context. Restoring on this
    crop gives the pixels, and shows the gate the views, that the whole image would."""
    wx, wy, side = window
    pitch = max((max(g[1].pitch) for g in grids or []), default=0.0)
    view = pad_box(clip_box((wx, wy, side, side), width, height), 2 * int(np.ceil(pitch)) + 2,
                   width, height)
    return hull(view, context_box(box, width, height, max(safety.CONTEXTS)))


def _moved(box: Box, by: tuple[int, int], sign: int = 1) -> Box:
    return box[0] + sign * by[0], box[1] + sign * by[1], box[2], box[3]


def _in_image(plan: RegionPlan, offset: tuple[int, int]) -> RegionPlan:
    """A plan made on the crop at ``offset`` of the image, with its box, window and grid
    in the image's pixels (a rescaled plan's window and grid are in its plan space)."""
    dx, dy = offset
    if plan.rescaled is not None:
        return replace(plan, box=_moved(plan.box, offset), offset=offset)
    wx, wy, side = plan.window
    grid = None if plan.grid is None else (plan.grid[0], (plan.grid[1][0] + dx,
                                                           plan.grid[1][1] + dy))
    return replace(plan, box=_moved(plan.box, offset), window=(wx + dx, wy + dy, side),
                   grid=grid, offset=offset)


def _grids_in(grids: list[PlacedGrid] | None, box: Box) -> list[Grid] | None:
    """Placed ``grids`` seen from the crop ``box`` = (x, y, w, h) of the image: their masks
    cropped or padded to it, their phases shifted; those that miss it left out (they
    overlap no region in it)."""
    if grids is None:
        return None
    bx, by, bw, bh = box
    out = []
    for mask, grid, (gx, gy) in grids:
        gh, gw = mask.shape
        x0, y0 = max(bx, gx), max(by, gy)
        x1, y1 = min(bx + bw, gx + gw), min(by + bh, gy + gh)
        if x0 >= x1 or y0 >= y1:
            continue
        part = mask[y0 - gy:y1 - gy, x0 - gx:x1 - gx]
        if (x0, y0, x1, y1) != (bx, by, bx + bw, by + bh):
            part = np.pad(part, ((y0 - by, by + bh - y1), (x0 - bx, bx + bw - x1)))
        phase = (grid.phase[0] + gx - bx, grid.phase[1] + gy - by)
        out.append((part, CellGrid(grid.pitch, phase)))
    return out


def chunks(sizes: list[int], count: int, budget: int) -> list[list[int]]:
    """Indices in order, cut into runs of at most ``count`` items and ``budget`` in total
    (an item larger than the budget goes alone)."""
    runs: list[list[int]] = []
    total = 0
    for i, size in enumerate(sizes):
        if not runs or len(runs[-1]) >= count or total + size > budget:
            runs.append([])
            total = 0
        runs[-1].append(i)
        total += size
    return runs


def _paste(image: np.ndarray, plan: RegionPlan, generated: np.ndarray,
           match_cells: bool = True) -> np.ndarray:
    """A copy of ``image`` with the plan's generated crop pasted in its region (through
    its plan space and back, for a rescaled plan), its cells matched to the mosaic's
    colours where the grid is known and ``match_cells``."""
    if plan.rescaled is None:
        (dx, dy), (wx, wy, side), grid = plan.offset, plan.window, plan.grid
        if grid is not None:
            grid = grid[0], (grid[1][0] - dx, grid[1][1] - dy)
        return _paste_region(image, plan.region, generated, (wx - dx, wy - dy, side),
                             grid if match_cells else None)
    r = plan.rescaled
    pasted = _paste_region(r.image, r.region, generated, plan.window,
                           plan.grid if match_cells else None)
    height, width = image.shape[:2]
    back = cv2.warpAffine(pasted, r.m, (width, height),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    alpha = feather_alpha(plan.region)[..., None]
    blended = np.round(alpha * back + (1 - alpha) * image).astype(np.uint8)
    return np.where(plan.region[..., None], blended, image)


def _paste_region(image: np.ndarray, region: np.ndarray, generated: np.ndarray,
                 window: tuple[int, int, int],
                 grid: tuple[int, tuple[int, int]] | None = None) -> np.ndarray:
    """A copy of ``image`` with ``generated`` (the crop of ``window`` = (x, y, side))
    pasted inside ``region``: first matched to the mosaic's cell colours on ``grid``
    (block, origin) when given, then feathered into the image at the region's edge."""
    wx, wy, side = window
    height, width = image.shape[:2]
    x0, y0 = max(wx, 0), max(wy, 0)
    x1, y1 = min(wx + side, width), min(wy + side, height)
    # The window holds the region with context, so all the work happens in its crop: the
    # crop's edges are either the image's or outside the region.
    inside = region[y0:y1, x0:x1]
    base = image[y0:y1, x0:x1]
    pasted = np.where(inside[..., None], generated[y0 - wy:y1 - wy, x0 - wx:x1 - wx], base)
    if grid is not None:  # before feathering, so a region's inside keeps the cell colours
        block, (ox, oy) = grid
        pasted = match_cell_means(pasted, base, inside, block, (ox - x0, oy - y0))
    alpha = feather_alpha(inside)[..., None]
    blended = alpha * pasted.astype(np.float32) + (1 - alpha) * base.astype(np.float32)
    out = np.array(image)
    out[y0:y1, x0:x1] = np.where(inside[..., None], np.round(blended).astype(np.uint8), base)
    return out


def find_mosaics(image: np.ndarray) -> tuple[np.ndarray, list[Grid]]:
    """What the default finder (:func:`~mosaicgan.find.find_regions`) can restore in
    ``image``: the ``(H, W)`` mask of those mosaics, and each one's grid as (mask, cell
    grid). Areas it finds without a grid are not in it."""
    return mask_and_grids(find_regions(image).regions, image.shape)


def grids_of(image: np.ndarray) -> list[Grid]:
    """The grids the grid model alone finds in ``image``: for a mask the user gave, which
    already says where."""
    return mask_and_grids(find_mosaic_regions(image), image.shape)[1]


def mask_and_grids(regions: list[MosaicRegion], shape: tuple[int, ...]
                   ) -> tuple[np.ndarray, list[Grid]]:
    """Found mosaics as restoring takes them: the mask of all, each one's (mask, grid)."""
    return regions_mask(regions, shape), [(r.mask, r.grid) for r in regions]


def grid_for(region: np.ndarray, grids: list[Grid] | None) -> CellGrid | None:
    """The grid that overlaps ``region`` most; None if none does."""
    best, overlap = None, 0
    for grid_mask, grid in grids or []:
        n = int(np.count_nonzero(grid_mask & region))
        if n > overlap:
            best, overlap = grid, n
    return best


def load_restorer(model: str | Path | None = "default", device: str = "auto",
                  sharpness: float | None = None) -> Restorer:
    """A Restorer from a run folder or model JSON; ``default`` or None: the shipped model.

    sharpness: 0 (faithful) to 1 (sharp), the generator interpolated between the model's
    pair (:mod:`.sharpness`). None: for the shipped model :data:`DEFAULT_SHARPNESS`, for
    any other the model as it was trained."""
    shipped = model in (None, "default")
    if shipped and sharpness is None:
        sharpness = DEFAULT_SHARPNESS
    return Restorer.from_checkpoint(default_model() if shipped else model, device=device,
                                    sharpness=sharpness)
