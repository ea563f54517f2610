"""The frame processors that hide regions in videos (``push(frames, indices)`` /
``flush()``, driven by :func:`mosaicgan.video.io.process_video`), over ``(H, W, 3)``
uint8 RGB frames in display orientation; :func:`mosaicgan.jobs.mosaic.mosaic_video`
builds them:

- :class:`FixedMosaic`: a fixed region on every frame;
- :class:`TrackedMosaic`: regions found per frame (``region_fn``, e.g. a face detector)
  on the frames :class:`~mosaicgan.video.schedule.DetectionSchedule` picks, made stable
  over time by :class:`~mosaicgan.video.temporal.RegionTracker`.

NumPy and OpenCV only: hiding faces in a video never imports torch (the restoring and
translating processors, which do, are :mod:`.processors`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from ..geometry import Box, hull
from ..mosaic import blur_array, default_block, mosaic_image, solid_array
from ..options import check_style
from .schedule import DetectionSchedule, Scheduled
from .temporal import Region, RegionTracker, Watch

RegionFn = Callable[[np.ndarray], Any]  # frame -> (H, W) bool, or Regions (its .mask)
BLOCK_HYSTERESIS = 0.25  # a tracked region's block size changes only when 25 % off


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


def _region_block(mask: np.ndarray) -> tuple[int, tuple[int, int]]:
    """(default block, grid origin) for a fixed region: as ``mosaic_image`` picks them."""
    ys, xs = np.nonzero(mask)
    x0, y0 = int(xs.min()), int(ys.min())
    return default_block(int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1), (x0, y0)


class FixedMosaic:
    """Hide the same ``(H, W)`` bool region in every frame in ``style`` (noted in
    ``tracks`` as track 0, when given)."""

    def __init__(self, mask: np.ndarray, block: int | None = None,
                 tracks: dict[int, dict[str, Any]] | None = None, style: str = "mosaic",
                 watch: Watch | None = None):
        if not mask.any():
            raise ValueError("the region is empty")
        check_style(style)
        self.style = style
        self.tracks = tracks
        self.watch = watch or Watch()  # each track's boxes on the frames a chunk shares
        self.mask = mask
        default, self.origin = _region_block(mask)
        self.block = block or default
        ys, xs = np.nonzero(mask)
        self.within = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                       int(ys.max() - ys.min() + 1))

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        for index in indices:
            if self.tracks is not None and self.watch.counts(index):
                note_region(self.tracks, 0, index, self.within)
            self.watch.note(0, index, self.within)
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
                 style: str = "mosaic", sigma_rule: Callable[[Box], float] | None = None,
                 watch: Watch | None = None):
        # block_rule / sigma_rule: a region's box -> its block / blur sigma, instead of
        # the defaults (faces: mosaicgan.regions.strength.face_block, face_sigma); never
        # weakened while the region is tracked.
        check_style(style)
        self.style = style
        self.block_rule = block_rule
        self.sigma_rule = sigma_rule
        self.sigmas: dict[int, float] = {}
        self.tracks = tracks
        self.watch = watch or Watch()  # each track's boxes on the frames a chunk shares
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
            if self.tracks is not None and self.watch.counts(index):
                note_region(self.tracks, region.track, index, region.bounds)
            self.watch.note(region.track, index, region.bounds)
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


def note_region(table: dict[int, dict[str, Any]], track: int, index: int, box: Box,
                reasons: list[str] | None = None) -> bool:
    """Add a region-frame to a per-track summary; True if the track is new there."""
    entry: dict[str, Any] = {"frames": [index, index], "box": list(box), "count": 1}
    if reasons is not None:
        entry["reasons"] = sorted(reasons)
    return add_entry(table, track, entry)


def add_entry(table: dict[int, dict[str, Any]], track: int, entry: dict[str, Any]) -> bool:
    """Add a track's summary ``{"frames": [first, last], "box", "count"[, "reasons"]}``
    (one region-frame, or a video chunk's whole track) to ``table``; True if new there."""
    mine = table.get(track)
    if mine is None:
        table[track] = {k: list(v) if isinstance(v, list) else v for k, v in entry.items()}
        return True
    mine["frames"] = [min(mine["frames"][0], entry["frames"][0]),
                      max(mine["frames"][1], entry["frames"][1])]
    mine["box"] = list(hull(tuple(mine["box"]), tuple(entry["box"])))
    mine["count"] += entry["count"]
    if "reasons" in entry or "reasons" in mine:
        mine["reasons"] = sorted(set(mine.get("reasons", [])) | set(entry.get("reasons", [])))
    return False
