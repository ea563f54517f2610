"""The frame processors that restore and translate videos (``push(frames, indices)`` /
``flush()``) that :func:`mosaicgan.video.io.process_video` drives, over ``(H, W, 3)``
uint8 RGB frames in display orientation. The jobs (:mod:`mosaicgan.jobs`) build them
(those that hide regions are :mod:`.hiding`):

- :class:`RestoreProcessor`: mosaics found per frame (or a given mask), tracked, restored
  in a crop window held steady over time through the restorer's one chain, generator
  calls batched across frames; the safety gate screens every region in every frame.
- :class:`TranslateProcessor`: every frame translated; one refused frame refuses the video.

Frames a processor leaves alone are passed through untouched.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Skip
from ..find import MosaicFollower
from ..geometry import hull
from ..models.restorer import (
    MIN_REGION_AREA,
    grids_of,
    mask_and_grids,
    regions_of,
    window_for,
)
from ..options import Log
from .hiding import note_region
from .io import VideoReport
from .temporal import Region, RegionTracker, Watch, union_mask


class OutputRefused(Skip):
    """The safety gate refused an output frame; nothing was written for the video (a
    batch skips it)."""

    def __init__(self, path: str | Path, frame: int, reasons: list[str]):
        self.frame = frame
        self.reasons = reasons
        super().__init__(path, f"frame {frame}: {' and '.join(reasons)} detected in the "
                               "translated output; the whole video is refused")


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
                 stop_on_refusal: bool = False, watch: Watch | None = None,
                 log: Log = print):
        self.restorer = restorer
        self.report = report
        self.mask = mask
        self.detect_every = detect_every
        self.tracker = tracker
        self.batch = batch
        self.withheld = withheld
        self.withhold_all = withhold_all
        self.stop_on_refusal = stop_on_refusal
        self.watch = watch or Watch()  # each track's boxes on the frames a chunk shares
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

    def _counts(self, index: int) -> bool:
        """Whether frame ``index`` counts in the report (not a chunk's neighbour's)."""
        return self.watch.counts(index)

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
                self.watch.note(region.track, index, region.box)
                if self._kept(region) and self._counts(index):
                    note_region(self.report.withheld, region.track, index, region.box)
            # The generator sees every region in its window, as in Restorer.restore.
            everything = union_mask(regions, (height, width)) if len(regions) > 1 else None
            todo = [r for r in regions if not self._kept(r)]
            source = frame
            own_grids = self.grids.pop(index, None)  # popped for every frame: bounded
            self.last_grids = own_grids or self.last_grids
            if todo and restorer.uses_grids:
                if self.last_grids is None:  # a given mask: find its grid once
                    self.last_grids = grids_of(frame)
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
                if o.restored and self._counts(index):
                    self.report.regions_restored += 1
                    note_region(self.report.synthesized, o.key, index, o.box)
            for o in refused:  # (refusals in a chunk's shared frames count: they withhold)
                self.report.regions_refused += 1
                if note_region(self.report.refused, o.key, index, o.box, o.reasons):
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


