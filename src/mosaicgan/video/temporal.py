"""Regions that stay put over time: tracking, gap filling, hold, lead-in and smoothing.

Per-frame detections flicker: a face detector misses a frame, a box wobbles by a few
pixels, a mosaic finder loses a region when the picture darkens. :class:`RegionTracker`
takes one ``(H, W)`` bool mask per frame (from any source), splits it into regions,
follows each region over time by box overlap, and gives each frame back its regions
with a bounded delay (``lookahead`` frames), so it runs inside a streaming processor:

- **gap filling**: a region seen before and after a short run of missed detections is
  covered in between (it needs to see the frame after: lookahead);
- **hold**: a region no longer detected stays covered for ``hold`` more detections;
- **lead**: a region is covered ``lead`` detections before it is first detected;
- **smoothing**: box coordinates are averaged (or medianed) over ``+-smooth`` frames,
  so a mosaic does not jitter; the raw detection is still covered in full, so
  smoothing never uncovers anything that was detected;
- **detect every N frames**: push ``None`` for frames without detection; regions are
  carried over them (interpolated between detections when both sides are known).

Pure numpy (and OpenCV for connected components). Boxes are ``(x, y, w, h)`` in pixels.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..geometry import Box, box_iou, clip_box, components, grow_box, hull
from ..regions.masks import paint_ellipse_path

SEEN, FILLED, HELD, LEAD, CARRIED = "seen", "filled", "held", "lead", "carried"
SHAPES = ("box", "ellipse", "mask")
SMOOTHING = ("mean", "median")
# A detection that overlaps no track may still continue the nearest one whose box, moved
# on at its own speed, it lies within this many box sizes of: half a size, and a quarter
# more for every frame since the track was last seen (faces move; with detections on every
# N-th frame a small face can move past its own box between two of them, and a track
# that breaks there leaves the frames between uncovered), up to GATE_MAX sizes. Sizes
# count as at least MIN_GATE_PX: a 10 px face panning 6 px a frame moves 96 px across a
# detection it was missed in at a stride of 8 (24 px lost 35 of its 90 face-frames in
# benchmarks/face_video.py, 48 none). A wrong link only covers more: the path between the
# boxes.
GATE_SIZES, GATE_PER_FRAME, GATE_MAX, MIN_GATE_PX = 0.5, 0.25, 3.0, 48


@dataclass
class Region:
    """One region in one frame.

    track: the id of the region over time. state: ``seen`` (detected in this frame),
    ``filled`` (between two detections), ``held`` (after the last one), ``lead`` (before
    the first one) or ``carried`` (a frame without detection). box: the region's box
    (smoothed, grown by the margin, for shape="box"; as detected for shape="mask").
    steady_box: its box smoothed over time by median (for crop windows). mask: ``(H, W)``
    bool, the pixels to act on. bounds: a box holding every pixel of mask.
    """

    track: int
    state: str
    box: Box
    steady_box: Box
    mask: np.ndarray
    bounds: Box | None = None

    def __post_init__(self) -> None:
        if self.bounds is None:
            ys, xs = np.nonzero(self.mask)
            self.bounds = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
                           int(ys.max() - ys.min() + 1)) if len(xs) else (0, 0, 0, 0)


@dataclass
class Watch:
    """Each track's boxes on some frames (a video chunk's frames shared with its
    neighbours, where :mod:`mosaicgan.video.chunks` matches their tracks)."""

    frames: tuple[tuple[int, int], ...] = ()  # [start, end) frame numbers
    seen: dict[int, list[tuple[int, Box]]] = field(default_factory=dict)
    kept: tuple[int, int] | None = None  # the frames the chunk writes (None: all)

    def counts(self, index: int) -> bool:
        """Whether frame ``index`` is the chunk's own (counted in its report; the frames
        it shares for context are its neighbour's)."""
        return self.kept is None or self.kept[0] <= index < self.kept[1]

    def note(self, track: int, index: int, box: Box) -> None:
        if any(start <= index < end for start, end in self.frames):
            self.seen.setdefault(track, []).append((index, tuple(int(v) for v in box)))


@dataclass
class _Seen:
    box: Box  # raw bounding box of the detected component
    crop: np.ndarray  # the component's mask inside box, (h, w) bool


@dataclass
class _Track:
    id: int
    seen: dict[int, _Seen] = field(default_factory=dict)  # frame index -> detection

    @property
    def last(self) -> int:
        return max(self.seen)


def _centre_inside(a: Box, b: Box) -> bool:
    cx, cy = a[0] + a[2] / 2, a[1] + a[3] / 2
    return b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]


def _centre(box: Box) -> np.ndarray:
    return np.array([box[0] + box[2] / 2, box[1] + box[3] / 2])


def _gated_distance(track: _Track, box: Box, index: int, panned: Box | None = None
                    ) -> float | None:
    """How far ``box`` lies from where ``track`` would be at ``index`` (its last box moved
    on at its last speed, or else as far as ``panned``, where the picture's pan took it),
    in box sizes; None beyond the gate (see GATE_SIZES) or when the sizes differ more than
    2x a side."""
    frames = sorted(track.seen)
    last = track.seen[frames[-1]].box
    if not 0.5 <= box[2] / max(last[2], 1) <= 2 or not 0.5 <= box[3] / max(last[3], 1) <= 2:
        return None
    gap = index - frames[-1]
    predicted = _centre(last if panned is None else panned)
    if len(frames) > 1:
        before = track.seen[frames[-2]].box
        centre = _centre(last)
        predicted = centre + (centre - _centre(before)) * gap / (frames[-1] - frames[-2])
    size = max(last[2], last[3], box[2], box[3], MIN_GATE_PX)
    distance = float(np.linalg.norm(_centre(box) - predicted)) / size
    return distance if distance <= min(GATE_SIZES + GATE_PER_FRAME * gap, GATE_MAX) else None


def paint(mask: np.ndarray, box: Box, crop: np.ndarray | None = None) -> None:
    """Set ``box`` in ``mask`` (H, W) in place, or only ``crop``'s pixels there when given."""
    x, y, w, h = box
    H, W = mask.shape
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    if crop is None:
        mask[y0:y1, x0:x1] = True
    else:
        mask[y0:y1, x0:x1] |= crop[y0 - y:y1 - y, x0 - x:x1 - x]


def union_mask(regions: list[Region], shape: tuple[int, int]) -> np.ndarray:
    """The ``(H, W)`` bool union of the regions' masks."""
    out = np.zeros(shape, bool)
    for r in regions:
        out |= r.mask
    return out


class RegionTracker:
    """Stabilise per-frame region masks over time, streaming, with bounded lookahead.

    Push one mask per frame, in order; get back ``(index, regions)`` for frames that are
    ``lookahead`` frames old; ``flush`` at the end returns the rest.

    Args:
        hold: detections a region stays covered after it was last detected.
        max_gap: missed detections bridged between two detections of a region.
        lead: detections a region is covered before its first detection.
        smooth: frames either side averaged for a region's box (0: none).
        smoothing: ``"mean"`` (less jitter) or ``"median"`` (ignores outliers; keeps a
            steady region exactly steady).
        shape: ``"box"``: cover each region's smoothed box grown by ``margin`` plus its
            raw pixels (for mosaics: cover generously); ``"ellipse"``: likewise the
            ellipse inscribed in that box (for ellipses detected; between two detections
            the box, so the path is covered); ``"mask"``: cover the detected
            pixels only (for restoration: act on the mosaic, nothing else). Frames
            without a detection of the region use the nearest detection's pixels.
        margin: growth of the box on each side, as a fraction of its size (box, ellipse).
        iou: the least box overlap that continues a region from one detection to the
            next (a box whose centre lies in the other continues it too).
        min_area: smaller specks in a mask are ignored (px).
        detect_every: detections run on every N-th frame only (frames in between are
            pushed as ``None``); the lookahead grows so regions are interpolated.

    Example:
        >>> tracker = RegionTracker(hold=2)
        >>> for i, mask in enumerate(masks):  # doctest: +SKIP
        ...     for index, regions in tracker.push(i, mask):
        ...         use(index, union_mask(regions, mask.shape))
        >>> for index, regions in tracker.flush():  # doctest: +SKIP
        ...     use(index, union_mask(regions, shape))
    """

    def __init__(self, *, hold: int = 3, max_gap: int = 2, lead: int = 1, smooth: int = 2,
                 smoothing: str = "mean", shape: str = "box", margin: float = 0.05,
                 iou: float = 0.1, min_area: int = 16, detect_every: int = 1):
        if min(hold, max_gap, lead, smooth) < 0 or detect_every < 1:
            raise ValueError("hold, max_gap, lead and smooth must be >= 0 and "
                             f"detect_every >= 1, got {hold}, {max_gap}, {lead}, {smooth}, "
                             f"{detect_every}")
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
        if smoothing not in SMOOTHING:
            raise ValueError(f"unknown smoothing {smoothing!r}; choose one of "
                             f"{', '.join(SMOOTHING)}")
        self.hold, self.max_gap, self.lead, self.smooth = hold, max_gap, lead, smooth
        self.smoothing, self.shape, self.margin = smoothing, shape, margin
        self.iou, self.min_area, self.detect_every = iou, min_area, detect_every
        # Frames to wait before a frame's regions are final: long enough to see the
        # detection that ends a bridged gap or starts a lead-in, and the smoothing window.
        self.lookahead = max((max(max_gap, lead) + 1) * detect_every - 1, smooth)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._observed: dict[int, bool] = {}  # frame index -> detection ran
        self._queue: deque[int] = deque()  # frames pushed, not yet returned
        self._shape: tuple[int, int] | None = None
        self._last_index: int | None = None
        # The picture's position at each detection, by the shifts pushed (the camera's
        # pan summed): a region not yet seen moving is expected to move with the picture.
        self._position: dict[int, np.ndarray] = {}
        self._last_detected: int | None = None

    # -- input ---------------------------------------------------------------------------

    def push(self, index: int, mask: np.ndarray | None,
             shift: tuple[float, float] | None = None) -> list[tuple[int, list[Region]]]:
        """Add frame ``index``'s detections: an ``(H, W)`` bool mask, or None when
        detection did not run on this frame. ``shift``: how far the picture moved since
        the detection before (x, y px: a camera pan, from
        :class:`~mosaicgan.video.schedule.DetectionSchedule`), where known: regions are
        looked for there too. Returns the frames now final."""
        if self._last_index is not None and index != self._last_index + 1:
            raise ValueError(f"frames must be pushed in order: got {index} after "
                             f"{self._last_index}")
        self._last_index = index
        if mask is not None:
            if mask.ndim != 2:
                raise ValueError(f"mask must be (H, W) bool, got shape {mask.shape}")
            if self._shape is None:
                self._shape = mask.shape
            elif mask.shape != self._shape:
                raise ValueError(f"mask is {mask.shape}, earlier masks were {self._shape}")
            previous = self._position.get(self._last_detected, np.zeros(2))
            self._position[index] = previous + (np.asarray(shift, float) if shift else 0.0)
            self._last_detected = index
            self._match(index, components(mask, self.min_area))
        self._observed[index] = mask is not None
        self._queue.append(index)
        ready = []
        while self._queue and self._queue[0] <= index - self.lookahead:
            ready.append(self._emit(self._queue.popleft()))
        return ready

    def flush(self) -> list[tuple[int, list[Region]]]:
        """The frames still waiting, with what is known (call once, at the end)."""
        ready = [self._emit(i) for i in list(self._queue)]
        self._queue.clear()
        return ready

    def _match(self, index: int, found: list[tuple[Box, np.ndarray]]) -> None:
        """Continue tracks with this frame's components (greedy by overlap); new ones start."""
        reach = max(self.hold, self.max_gap)
        alive = [t for t in self._tracks if self._misses(t.last + 1, index - 1) <= reach]
        used_t: set[int] = set()
        used_c: set[int] = set()

        def link(pairs: list[tuple[float, int, int]]) -> None:
            """Greedy, best cost first: each track and component linked at most once."""
            for _, ti, ci in sorted(pairs):
                if ti not in used_t and ci not in used_c:
                    used_t.add(ti)
                    used_c.add(ci)
                    alive[ti].seen[index] = _Seen(*found[ci])

        panned = [self._panned(track, index) for track in alive]
        overlaps = []
        for ti, track in enumerate(alive):
            last = track.seen[track.last].box
            for ci, (box, _) in enumerate(found):
                # Where it was, or where the picture's pan has taken it: the better.
                score = max(box_iou(b, box) for b in (last, panned[ti]))
                if score >= self.iou or any(_centre_inside(box, b) or _centre_inside(b, box)
                                            for b in (last, panned[ti])):
                    overlaps.append((-score, ti, ci))
        link(overlaps)
        # Then by motion: the nearest left over to where each track would be by now.
        link([(d, ti, ci) for ti, track in enumerate(alive) if ti not in used_t
              for ci, (box, _) in enumerate(found) if ci not in used_c
              if (d := _gated_distance(track, box, index, panned[ti])) is not None])
        for ci, (box, crop) in enumerate(found):
            if ci not in used_c:
                self._tracks.append(_Track(self._next_id, {index: _Seen(box, crop)}))
                self._next_id += 1

    def _panned(self, track: _Track, index: int) -> Box:
        """The track's last box moved as the picture moved since then (the same box when
        no pan is known)."""
        x, y, w, h = track.seen[track.last].box
        moved = self._position[index] - self._position[track.last]  # (both detections)
        return round(x + moved[0]), round(y + moved[1]), w, h

    # -- output --------------------------------------------------------------------------

    def _misses(self, a: int, b: int) -> int:
        """Frames in [a, b] on which detection ran (the track was not seen on them)."""
        return sum(self._observed.get(i, False) for i in range(a, b + 1))

    def _smoothed(self, track: _Track, index: int, method: str) -> Box:
        """The track's box at ``index`` (a frame it was seen in), smoothed over +-smooth."""
        near = [track.seen[i].box for i in range(index - self.smooth, index + self.smooth + 1)
                if i in track.seen]
        corners = np.array([(x, y, x + w, y + h) for x, y, w, h in near], np.float64)
        c = corners.mean(0) if method == "mean" else np.median(corners, 0)
        x0, y0, x1, y1 = int(np.floor(c[0])), int(np.floor(c[1])), \
            int(np.ceil(c[2])), int(np.ceil(c[3]))
        return x0, y0, x1 - x0, y1 - y0

    def _emit(self, s: int) -> tuple[int, list[Region]]:
        regions = []
        if self._shape is not None:
            for track in self._tracks:
                region = self._region(track, s)
                if region is not None:
                    regions.append(region)
        self._forget(s)
        return s, regions

    def _region(self, track: _Track, s: int) -> Region | None:
        """Track's region at frame ``s``, or None when it is not covered there."""
        if s in track.seen:
            state, ref, other = SEEN, s, None
        else:
            before = [i for i in track.seen if i < s]
            after = [i for i in track.seen if i > s]
            p = max(before) if before else None
            n = min(after) if after else None
            if p is not None and n is not None and self._misses(p + 1, n - 1) <= self.max_gap:
                missed = self._misses(p + 1, n - 1) > 0
                state, ref, other = (FILLED if missed else CARRIED), \
                    (p if s - p <= n - s else n), (n if s - p <= n - s else p)
            elif p is not None and self._misses(p + 1, s) <= self.hold:
                state, ref, other = (HELD if self._misses(p + 1, s) else CARRIED), p, None
            elif n is not None and self._misses(s, n - 1) <= self.lead:
                state, ref, other = (LEAD if self._misses(s, n - 1) else CARRIED), n, None
            else:
                return None
        height, width = self._shape
        steady = self._smoothed(track, ref, "median")
        smoothed = self._smoothed(track, ref, self.smoothing)
        seen = track.seen[ref]
        mask = np.zeros((height, width), bool)
        if self.shape in ("box", "ellipse"):
            box = grow_box(smoothed, self.margin, width, height)
            if other is not None:  # between two detections: cover the path from one to the other
                box = hull(box, grow_box(self._smoothed(track, other, self.smoothing), self.margin,
                                     width, height))
            moved = self._moved(track, ref, s)
            if moved is not None:  # held after, or led before, a moving region: its way on
                box = hull(box, grow_box(moved, self.margin, width, height))
            if self.shape == "box":
                paint(mask, box)
            else:
                # The detections are ellipses: the one inscribed in the grown box, and on
                # the way to the other detection (or on) every ellipse between.
                ends = [smoothed] + [b for b in (
                    None if other is None else self._smoothed(track, other, self.smoothing),
                    moved) if b is not None]
                box = clip_box(paint_ellipse_path(mask, ends, 0.5 + self.margin), width,
                               height)
            paint(mask, seen.box, seen.crop)  # smoothing never uncovers a detected pixel
            painted = [box, seen.box]
            if other is not None:
                paint(mask, track.seen[other].box, track.seen[other].crop)
                painted.append(track.seen[other].box)
            bounds = clip_box(hull(*painted), width, height)
        else:
            box = bounds = seen.box
            paint(mask, seen.box, seen.crop)
        return Region(track.id, state, box, steady, mask, bounds)

    def _moved(self, track: _Track, ref: int, s: int) -> Box | None:
        """Where a region seen at ``ref`` would be at ``s`` (after its last detection, or
        before its first) moving on at the speed of its two detections nearest ``ref``;
        None at a detection, between two, or without a speed."""
        side = sorted(i for i in track.seen if (i <= ref if s > ref else i >= ref))
        if s == ref or len(side) < 2 or any(
                (i > s if s > ref else i < s) for i in track.seen if i != ref):
            return None
        a, b = (side[-2], side[-1]) if s > ref else (side[1], side[0])
        (ax, ay, _, _), (bx, by, w, h) = track.seen[a].box, track.seen[b].box
        k = (s - b) / (b - a)
        return round(bx + (bx - ax) * k), round(by + (by - ay) * k), w, h

    def _forget(self, s: int) -> None:
        """Drop what frames after ``s`` can no longer need."""
        now = self._last_index if self._last_index is not None else s
        live = []
        for t in self._tracks:
            if self._misses(t.last + 1, now) > max(self.hold, self.max_gap) and \
                    self._misses(t.last + 1, s + 1) > self.hold:
                continue  # can neither be continued nor held any more
            # Keep the smoothing window ahead, and the last two detections before it with
            # their own windows (they decide what is held or filled, and the speed a
            # region held after its last detection moves on at).
            cutoff = s + 1 - self.smooth
            older = sorted(i for i in t.seen if i < cutoff)
            if older:
                keep_from = older[-2 if len(older) > 1 else -1] - self.smooth
                for i in older:
                    if i < keep_from:
                        del t.seen[i]
            live.append(t)
        self._tracks = live
        # Detection flags are needed from the last detection of each track up to s.
        lasts = [max(i for i in t.seen if i <= s) + 1 for t in live if min(t.seen) <= s]
        first = min([s + 1, *lasts])
        for i in [i for i in self._observed if i < first]:
            del self._observed[i]
        needed = {i for t in live for i in t.seen} | {self._last_detected}
        for i in [i for i in self._position if i not in needed]:
            del self._position[i]
