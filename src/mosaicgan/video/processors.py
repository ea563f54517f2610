"""The per-job frame processors (``push(frames, indices)`` / ``flush()``) that
:func:`mosaicgan.video.io.process_video` drives, over ``(H, W, 3)`` uint8 RGB frames in
display orientation. The jobs (:mod:`mosaicgan.jobs`) build them:

- :class:`FixedMosaic`: a fixed region on every frame; :class:`TrackedMosaic`: regions
  found per frame (``region_fn``, e.g. a face detector) made stable over time by
  :class:`~mosaicgan.video.temporal.RegionTracker` (gap filling, hold, lead-in, smoothing).
- :class:`RestoreProcessor`: mosaics found per frame (or a given mask), tracked, restored
  in a crop window held steady over time through the restorer's one chain, generator
  calls batched across frames; the safety gate screens every region in every frame.
- :class:`TranslateProcessor`: every frame translated; one refused frame refuses the video.

Frames a processor leaves alone are passed through untouched.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..find_mosaic import MosaicFollower
from ..geometry import Box, hull
from ..models.restorer import (
    MIN_REGION_AREA,
    find_mosaics,
    mask_and_grids,
    regions_of,
    window_for,
)
from ..mosaic import blur_array, default_block, mosaic_image, solid_array
from ..options import Log, check_style
from .io import VideoReport
from .schedule import DetectionSchedule, Scheduled
from .temporal import Region, RegionTracker, union_mask

RegionFn = Callable[[np.ndarray], Any]  # frame -> (H, W) bool, or Regions (its .mask)
BLOCK_HYSTERESIS = 0.25  # a tracked region's block size changes only when 25 % off


class OutputRefused(InputError):
    """The safety gate refused an output frame; nothing was written for the video."""

    def __init__(self, path: str | Path, frame: int, reasons: list[str]):
        self.frame = frame
        self.reasons = reasons
        super().__init__(path, f"frame {frame}: {' and '.join(reasons)} detected in the "
                               "translated output; the whole video is refused")


# --- mosaic -------------------------------------------------------------------------------

def mosaic_in(frame: np.ndarray, mask: np.ndarray, block: int, origin: tuple[int, int],
              within: Box | None = None) -> np.ndarray:
    """``mosaic_image`` on the grid-aligned part of ``frame`` (H, W, 3) around ``mask``.

    Same pixels as ``mosaic_image(frame, mask, block, origin)``, without converting the
    whole frame (a 1280x720 frame with a small region: ~20x faster). within: a box known
    to hold every pixel of mask (saves searching the whole frame). Returns ``frame``
    itself when the mask is empty, else a new array.
    """
    wx, wy = (within[0], within[1]) if within is not None else (0, 0)
    part = mask if within is None else mask[wy:wy + within[3], wx:wx + within[2]]
    ys, xs = np.nonzero(part)
    if len(xs) == 0:
        return frame
    ox, oy = origin
    height, width = mask.shape
    # Whole grid cells around the region: a cell's mean only sees its own masked pixels.
    x0 = max(ox + (wx + int(xs.min()) - ox) // block * block, 0)
    y0 = max(oy + (wy + int(ys.min()) - oy) // block * block, 0)
    x1 = min(ox + -(-(wx + int(xs.max()) + 1 - ox) // block) * block, width)
    y1 = min(oy + -(-(wy + int(ys.max()) + 1 - oy) // block) * block, height)
    out = np.array(frame)
    with _torch_threads(1):
        out[y0:y1, x0:x1] = mosaic_image(out[y0:y1, x0:x1], mask[y0:y1, x0:x1], block,
                                         (ox - x0, oy - y0))
    return out


def hide_in(frame: np.ndarray, mask: np.ndarray, style: str, block: int,
            origin: tuple[int, int], within: Box | None = None,
            sigma: float | None = None) -> np.ndarray:
    """``mask`` hidden in ``frame`` in ``style``, as the image job hides it: a mosaic on
    the grid at ``origin`` (:func:`mosaic_in`), a blur of ``sigma`` (default: a tenth of
    the region's longer side) or a solid fill."""
    check_style(style)
    if style == "mosaic":
        return mosaic_in(frame, mask, block, origin, within)
    if style == "blur":
        return blur_array(frame, mask, sigma)
    return solid_array(frame, mask)


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run torch on ``n`` threads inside the block, as many as before after it.

    Pixelating a crop is a few ms of work while x264's threads run beside it: spread over
    both cores of a 2-core machine it ran 1.75x slower (threads waiting on each other).
    """
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _region_block(mask: np.ndarray) -> tuple[int, tuple[int, int]]:
    """(default block, grid origin) for a fixed region: as ``mosaic_image`` picks them."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return default_block(int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1), (x0, y0)


class FixedMosaic:
    """Hide the same ``(H, W)`` bool region in every frame in ``style`` (noted in
    ``tracks`` as track 0, when given)."""

    def __init__(self, mask: np.ndarray, block: int | None = None,
                 tracks: dict[int, dict[str, Any]] | None = None, style: str = "mosaic"):
        if not mask.any():
            raise ValueError("the region is empty")
        check_style(style)
        self.style = style
        self.tracks = tracks
        self.mask = mask
        default, self.origin = _region_block(mask)
        self.block = block or default
        ys, xs = np.nonzero(mask)
        self.within = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                       int(ys.max() - ys.min() + 1))

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        if self.tracks is not None:
            for index in indices:
                _note(self.tracks, 0, index, self.within)
        return [hide_in(f, self.mask, self.style, self.block, self.origin, self.within)
                for f in frames]

    def flush(self) -> list[np.ndarray]:
        return []


class TrackedMosaic:
    """Hide regions found per frame by ``region_fn`` in ``style``, stabilised over time.

    Each tracked region gets its own block size (about 16 cells across it, changed only
    when the region's size changes by more than 25 %), on a grid anchored to the frame,
    so cells do not crawl as the region moves; a blur's sigma (a tenth of the region's
    longer side) is held the same way. ``tracks``, when given, gets each tracked
    region's frames and the box holding it (see ``_note``).
    """

    def __init__(self, region_fn: RegionFn, *, block: int | None = None,
                 detect_every: int = 1, tracker: RegionTracker | None = None,
                 tracks: dict[int, dict[str, Any]] | None = None,
                 block_rule: Callable[[Box], int] | None = None,
                 style: str = "mosaic", sigma_rule: Callable[[Box], float] | None = None):
        # block_rule / sigma_rule: a region's box -> its block / blur sigma, instead of
        # the defaults (faces: mosaicgan.regions.strength.face_block, face_sigma); never
        # weakened while the region is tracked.
        check_style(style)
        self.style = style
        self.block_rule = block_rule
        self.sigma_rule = sigma_rule
        self.sigmas: dict[int, float] = {}
        self.tracks = tracks
        self.region_fn = region_fn
        self.block = block
        self.schedule = DetectionSchedule(detect_every)  # the stride, cuts, the last frame
        self.tracker = tracker
        self.frames: deque[tuple[int, np.ndarray]] = deque()
        self.blocks: dict[int, int] = {}
        self.last_mask: np.ndarray | None = None  # carried over frames without detection

    def _detect(self, frame: np.ndarray) -> np.ndarray:
        found = self.region_fn(frame)
        mask = np.asarray(getattr(found, "mask", found))  # a Regions result, or a mask
        if mask.shape != frame.shape[:2] or mask.dtype != bool:
            raise ValueError(f"region_fn returned {mask.shape} {mask.dtype}; expected "
                             f"{frame.shape[:2]} bool")
        return mask

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        out = []
        for frame, index in zip(frames, indices, strict=True):
            out += self._take(self.schedule.add(index, frame))
        return out

    def flush(self) -> list[np.ndarray]:
        out = self._take(self.schedule.finish())
        return out + (self._ready(self.tracker.flush()) if self.tracker is not None else [])

    def _take(self, scheduled: Scheduled | None) -> list[np.ndarray]:
        """A frame the schedule has decided on: detected or not, then tracked."""
        if scheduled is None:
            return []
        index, frame, detect, shift = scheduled
        mask = self._detect(frame) if detect else None
        if self.tracker is None:  # no stabilising: this frame's mask (or the last one)
            self.last_mask = mask if mask is not None else self.last_mask
            return [self._apply(frame, index, self._plain(self.last_mask))]
        self.frames.append((index, frame))
        return self._ready(self.tracker.push(index, mask, shift))

    def _ready(self, ready: list[tuple[int, list[Region]]]) -> list[np.ndarray]:
        out = []
        for index, regions in ready:
            i, frame = self.frames.popleft()
            assert i == index, (i, index)  # the tracker returns frames in order
            out.append(self._apply(frame, index, regions))
        return out

    def _plain(self, mask: np.ndarray | None) -> list[Region]:
        if mask is None or not mask.any():
            return []
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
               int(ys.max() - ys.min() + 1))
        return [Region(-1, "seen", box, box, mask)]

    def _block_for(self, region: Region) -> int:
        if self.block is not None:
            return self.block
        ideal = (default_block(region.box[2], region.box[3]) if self.block_rule is None
                 else self.block_rule(region.box))
        return int(_held(self.blocks, region.track, ideal, self.block_rule is not None))

    def _sigma_for(self, region: Region) -> float:
        ideal = (max(3.0, max(region.box[2], region.box[3]) / 10) if self.sigma_rule is None
                 else self.sigma_rule(region.box))
        return _held(self.sigmas, region.track, ideal, self.sigma_rule is not None)

    def _strength(self, region: Region) -> float:
        return self._sigma_for(region) if self.style == "blur" else self._block_for(region)

    def _apply(self, frame: np.ndarray, index: int, regions: list[Region]) -> np.ndarray:
        # Strongest last: where regions overlap, the coarser mosaic or blur wins.
        for region in sorted(regions, key=self._strength):
            if self.tracks is not None:
                _note(self.tracks, region.track, index, region.bounds)
            frame = hide_in(frame, region.mask, self.style, self._block_for(region), (0, 0),
                            region.bounds, self._sigma_for(region))
        return frame


def _held(table: dict[int, Any], track: int, ideal: float, never_weaker: bool) -> Any:
    """A track's block or sigma: changed only when the ideal moves by more than
    BLOCK_HYSTERESIS (so it does not flicker), and at once when it grows if
    ``never_weaker``."""
    current = table.get(track)
    if current is None or abs(ideal - current) > BLOCK_HYSTERESIS * current or (
            never_weaker and ideal > current):
        current = table[track] = ideal
    return current


# --- restore ------------------------------------------------------------------------------

@dataclass
class RestoreVideoReport(VideoReport):
    """A :class:`VideoReport` plus what the restorer did, counted per region per frame.

    synthesized / refused / withheld: per tracked region, ``{"frames": [first, last],
    "box": hull, "count": n}`` (refused ones add ``"reasons"``): restored, refused by the
    gate in this pass, and kept as the input had it because its track was refused.
    """

    regions_restored: int = 0
    regions_refused: int = 0
    frames_with_refusals: int = 0
    synthesized: dict[int, dict[str, Any]] = field(default_factory=dict)
    refused: dict[int, dict[str, Any]] = field(default_factory=dict)
    withheld: dict[int, dict[str, Any]] = field(default_factory=dict)  # tracks kept as input
    frames_searched: int = 0  # frames find-mosaic searched whole...
    frames_followed: int = 0  # ...and those whose mosaics it followed from the frame before

    def summary(self) -> str:
        line = super().summary()
        line += f"; {self.regions_restored} region-frame(s) restored"
        if self.withheld:
            kept = sum(t["count"] for t in self.withheld.values())
            line += (f", {len(self.withheld)} refused track(s) kept as the input had them "
                     f"({kept} region-frame(s))")
        if self.frames_searched:
            line += (f"; mosaics searched for in {self.frames_searched} whole frame(s), "
                     f"followed on their grids in {self.frames_followed}")
        return line


def _note(table: dict[int, dict[str, Any]], track: int, index: int, box: Box,
          reasons: list[str] | None = None) -> bool:
    """Add a region-frame to a per-track summary; True if the track is new there."""
    entry = table.get(track)
    if entry is None:
        table[track] = {"frames": [index, index], "box": list(box), "count": 1}
        if reasons is not None:
            table[track]["reasons"] = sorted(reasons)
        return True
    entry["frames"][1] = index
    entry["box"] = list(hull(tuple(entry["box"]), box))
    entry["count"] += 1
    if reasons is not None:
        entry["reasons"] = sorted(set(entry["reasons"]) | set(reasons))
    return False


def steady_window(region: Region, width: int, height: int, size: int) -> tuple[int, int, int]:
    """The crop window ``(x, y, side)`` for a region: around its box smoothed over time, so
    the generator sees the same crop while the region stays put; grown to hold the
    region's current box when it moved out of it."""
    wx, wy, side = window_for(region.steady_box, width, height, size)
    x, y, w, h = region.box
    if x < wx or y < wy or x + w > wx + side or y + h > wy + side:
        return window_for(hull(region.steady_box, region.box), width, height, size)
    return wx, wy, side


class Refused(Exception):
    """Raised inside a pass when the gate refuses a region of a track not yet withheld:
    frames of that track already written would show what the gate refused elsewhere."""


class RestoreProcessor:
    """Find (or take) mosaics per frame, track them, restore them in steady windows.

    One restore chain with images (:meth:`Restorer._plan` / :meth:`Restorer._run`): the
    generator runs on the regions of all frames that are ready, in batches; each region
    is then pasted and screened in turn. Regions of ``withheld`` tracks (every region,
    with ``withhold_all``) are left as the input had them in every frame. With
    ``stop_on_refusal``, a refusal raises :class:`Refused`: the pass is abandoned.
    """

    def __init__(self, restorer: Any, report: RestoreVideoReport, *,
                 mask: np.ndarray | None = None, detect_every: int = 1,
                 tracker: RegionTracker | None = None, batch: int = 8,
                 withheld: frozenset[int] = frozenset(), withhold_all: bool = False,
                 stop_on_refusal: bool = False, log: Log = print):
        self.restorer = restorer
        self.report = report
        self.mask = mask
        self.detect_every = detect_every
        self.tracker = tracker
        self.batch = batch
        self.withheld = withheld
        self.withhold_all = withhold_all
        self.stop_on_refusal = stop_on_refusal
        self.log = log
        self.frames: deque[tuple[int, np.ndarray]] = deque()
        self.last_mask: np.ndarray | None = None
        # Mosaic grids for a restorer that uses them (prefill, cell matching): those found
        # in a frame, used for it; frames between detections (or with a given mask) use
        # the last ones known.
        self.grids: dict[int, list] = {}
        self.last_grids: list | None = None
        # Each frame's mosaics followed from the frame before on their grids (a few % of
        # a whole-frame search), the frame searched whole when that fails.
        self.finder = MosaicFollower()

    def _detect(self, frame: np.ndarray, index: int) -> np.ndarray | None:
        if self.mask is not None:
            return self.mask
        if index % self.detect_every:
            return None
        mask, grids = mask_and_grids(self.finder.regions(frame), frame.shape)
        self.report.frames_searched = self.finder.searches
        self.report.frames_followed = self.finder.followed
        if self.restorer.uses_grids:
            self.grids[index] = grids
        return mask

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        ready: list[tuple[int, list[Region]]] = []
        for frame, index in zip(frames, indices, strict=True):
            mask = self._detect(frame, index)
            self.frames.append((index, frame))
            if self.tracker is not None:
                ready += self.tracker.push(index, mask)
            else:
                self.last_mask = mask if mask is not None else self.last_mask
                ready.append((index, _plain_regions(self.last_mask)))
        return self._restore(ready)

    def flush(self) -> list[np.ndarray]:
        return self._restore(self.tracker.flush()) if self.tracker is not None else []

    def _kept(self, region: Region) -> bool:
        """Whether a region stays as the input had it (its track was refused)."""
        return self.withhold_all or region.track in self.withheld

    def _restore(self, ready: list[tuple[int, list[Region]]]) -> list[np.ndarray]:
        restorer = self.restorer
        size = restorer.window_multiple
        frames, plans = [], []
        for index, regions in ready:
            i, frame = self.frames.popleft()
            assert i == index, (i, index)  # the tracker returns frames in order
            frames.append(frame)
            height, width = frame.shape[:2]
            regions = [r for r in regions if r.mask.sum() >= MIN_REGION_AREA]
            for region in regions:
                if self._kept(region):
                    _note(self.report.withheld, region.track, index, region.box)
            # The generator sees every region in its window, as in Restorer.restore.
            everything = union_mask(regions, (height, width)) if len(regions) > 1 else None
            todo = [r for r in regions if not self._kept(r)]
            source = frame
            own_grids = self.grids.pop(index, None)  # popped for every frame: bounded
            self.last_grids = own_grids or self.last_grids
            if todo and restorer.uses_grids:
                if self.last_grids is None:  # a given mask: find its grid once
                    self.last_grids = find_mosaics(frame)[1]
                source = restorer._prefilled(frame, [r.mask for r in todo], self.last_grids)
            plans.append([restorer._plan(source, r.mask, r.box,
                                        steady_window(r, width, height, size),
                                        self.last_grids, seen=everything, key=r.track)
                          for r in todo])
        out = []
        results = restorer._run(frames, plans, self.batch)
        for (index, _), (image, outcomes) in zip(ready, results, strict=True):
            refused = [o for o in outcomes if not o.restored]
            for o in outcomes:
                if o.restored:
                    self.report.regions_restored += 1
                    _note(self.report.synthesized, o.key, index, o.box)
            for o in refused:
                self.report.regions_refused += 1
                if _note(self.report.refused, o.key, index, o.box, o.reasons):
                    self.log(f"frame {index}: region at {o.box} (track {o.key}) refused: "
                             f"{' and '.join(o.reasons)} detected in the restored result")
            if refused:
                self.report.frames_with_refusals += 1
                if self.stop_on_refusal:
                    raise Refused()
            out.append(image)
        return out


def _plain_regions(mask: np.ndarray | None) -> list[Region]:
    """Regions of one mask, without tracking (each component on its own)."""
    if mask is None:
        return []
    return [Region(-1 - k, "seen", box, box, m) for k, (box, m) in enumerate(regions_of(mask))]


# --- translate ----------------------------------------------------------------------------

class TranslateProcessor:
    """Translate every frame; a frame whose output the gate refuses refuses the video."""

    def __init__(self, translator: Any, src: Path):
        self.translator = translator
        self.src = src

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        out = []
        for frame, index in zip(frames, indices, strict=True):
            result = self.translator.translate(np.array(frame))  # writable for torch
            if result.image is None:
                raise OutputRefused(self.src, index, result.refused)
            out.append(result.image)
        return out

    def flush(self) -> list[np.ndarray]:
        return []


