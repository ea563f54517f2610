"""A mosaic's grid to a fraction of a pixel: its pitch and phase in x and y.

A mosaic rescaled after it was made (a 1080p video shown at 720p turns 12 px cells into
8 px ones; a picture shrunk to 70 % turns them into 8.4 px ones) has cells whose edges no
longer fall on an integer grid. What survives is the periodicity: the image's gradient,
summed along rows (columns), is a train of spikes at the cell edges, ``phase + k * pitch``.

For a profile ``E(x)`` (high-passed, so object edges count less than spikes), the
concentration of its energy at one phase of a candidate pitch ``p`` is the normalised
Fourier coefficient ``R(p) = |sum E(x) exp(-2 pi i x / p)| / sum E(x)``: near 1 for a spike
train of pitch ``p``, small for natural texture. A spike train of pitch ``p`` scores as
high at ``p / 2, p / 3, ...`` (its harmonics), so the pitch is the largest period whose
``R`` is near the best. The phase is the coefficient's angle.

:func:`estimate_grids` looks at windows of the image, gathers the windows that agree on
a pitch into a region of interest, and refines pitch and phase on the whole of it.
:func:`to_integer_grid` gives the affine map that makes such a grid an integer one (cells
of ``q`` px with an edge at 0), so integer-grid code can work on the resampled image.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

COARSE_STEP = 0.01  # px between candidate pitches in a window
# (window side, pitches looked for in it): at least three cells across; windows overlap
# by half. Small windows fit small mosaics (a shrunk one is small).
WINDOWS = ((64, 3.5, 21.0), (128, 20.0, 42.0))
R_WINDOW = 0.5  # phase concentration over the typical a window needs in both directions
R_REGION = 0.5  # ...and the whole region of interest, once refined
HARMONIC = 0.8  # a multiple of the best period scoring this share of its R is the pitch
AGREE = 0.03  # windows whose pitches differ by less than this fraction agree
REFINE = 0.06  # the refined pitch is sought this fraction either side of the windows'
INTEGER = 0.02  # a pitch this close to an integer (in both directions) is an integer grid

Roi = tuple[int, int, int, int]  # y0, y1, x0, x1


@dataclass(frozen=True)
class CellGrid:
    """A mosaic's cells: ``pitch`` (x, y) px apart, a cell edge at ``phase`` (x, y), in
    pixel-edge coordinates (pixel i spans [i, i + 1)). A mosaic as made has square cells
    of whole pixels (:meth:`integer_grid`); a rescaled one need not."""

    pitch: tuple[float, float]
    phase: tuple[float, float]

    @classmethod
    def integer_grid(cls, block: int, origin: tuple[int, int]) -> CellGrid:
        """Square ``block`` px cells with a corner at ``origin``."""
        return cls((float(block), float(block)), (float(origin[0]), float(origin[1])))

    @property
    def is_integer(self) -> bool:
        """Square cells of a whole number of pixels, edges on pixel edges."""
        (px, py), (fx, fy) = self.pitch, self.phase
        return px == py == round(px) and fx == round(fx) and fy == round(fy)

    @property
    def block(self) -> int:
        """The cell size in whole pixels (the larger pitch, rounded)."""
        return max(1, round(max(self.pitch)))

    @property
    def origin(self) -> tuple[int, int]:
        """A cell corner in whole pixels, in ``[0, block)``."""
        return round(self.phase[0]) % self.block, round(self.phase[1]) % self.block


@dataclass(frozen=True)
class GridEstimate:
    """A grid seen in a region of interest ``roi`` of an image, with its R ``score``."""

    grid: CellGrid
    roi: Roi
    score: float

    @property
    def near_integer(self) -> bool:
        """Square cells within INTEGER of a whole number of pixels: the integer finder's."""
        px, py = self.grid.pitch
        return (abs(px - round(px)) <= INTEGER and abs(py - round(py)) <= INTEGER
                and round(px) == round(py))


def _highpass(profiles: np.ndarray) -> np.ndarray:
    """Spikes kept, slow changes (an object's edge, shading) taken off."""
    return np.clip(profiles - ndi.uniform_filter1d(profiles, 7, axis=-1), 0, None)


def _tapered(profiles: np.ndarray) -> np.ndarray:
    """``(n, L)`` float64: the profiles high-passed, then tapered (a window's ends would
    otherwise favour periods that divide its length)."""
    e = _highpass(np.atleast_2d(profiles).astype(np.float64))
    return e * np.hanning(e.shape[1] + 2)[1:-1]


def concentration(profiles: np.ndarray, periods: np.ndarray, reuse: bool = False
                  ) -> np.ndarray:
    """Complex ``(n, len(periods))``: each profile's normalised Fourier coefficient at each
    period (its modulus is R, its angle gives the phase). ``reuse``: the windows' coarse
    search (the same periods for every image, many profiles): the Fourier basis is kept
    for the next call, and the products run in float32 (R to about 1e-7: a pitch that
    refine then measures in float64)."""
    e = _tapered(profiles)
    periods = np.ascontiguousarray(periods, np.float64)
    total = e.sum(axis=1, keepdims=True) + 1e-9
    if reuse:
        cos, sin = _kept_basis(e.shape[1], periods.tobytes())
        e = e.astype(np.float32)
    else:
        cos, sin = _basis(e.shape[1], periods.tobytes())
    # exp(-i t) = cos t - i sin t: two real products, not one complex one (half the work)
    return (e @ cos.T - 1j * (e @ sin.T)) / total


def own_concentration(profiles: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Complex ``(n,)``: profile k's normalised Fourier coefficient at ``periods[k]`` (what
    :func:`concentration` gives for each alone, in one pass)."""
    e = _tapered(profiles)
    basis = np.exp(-2j * np.pi * np.arange(e.shape[1])[None, :] / periods[:, None])
    return (e * basis).sum(axis=1) / (e.sum(axis=1) + 1e-9)


def _basis(length: int, periods: bytes) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of 2 pi x / period, ``(len(periods), length)``."""
    angle = 2 * np.pi * np.arange(length)[None, :] / np.frombuffer(periods)[:, None]
    return np.cos(angle), np.sin(angle)


@functools.lru_cache(maxsize=8)
def _kept_basis(length: int, periods: bytes) -> tuple[np.ndarray, np.ndarray]:
    cos, sin = (b.astype(np.float32) for b in _basis(length, periods))
    cos.flags.writeable = sin.flags.writeable = False  # (shared between calls)
    return cos, sin


def pitch_of(r: np.ndarray, periods: np.ndarray) -> tuple[float, float]:
    """(pitch, R) from R over ``periods``: the best period, or a whole multiple of it that
    scores within HARMONIC of it (a spike train of pitch p scores as high at p / 2)."""
    i = int(r.argmax())
    best, pitch, score = float(r[i]), float(periods[i]), float(r[i])
    for k in (2, 3, 4):
        target = k * float(periods[i])
        if target > periods[-1]:
            break
        near = np.abs(periods - target) <= AGREE * target / 2
        j = int(np.nonzero(near)[0][r[near].argmax()])
        if r[j] >= HARMONIC * best:
            pitch, score = float(periods[j]), float(r[j])
    return pitch, score


def _profiles(y: np.ndarray, roi: Roi, mask: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Column profile of |dx| and row profile of |dy| over ``roi`` (only where ``mask``,
    an (H, W) bool of the whole image, is set, when given)."""
    y0, y1, x0, x1 = roi
    part = y[y0:y1, x0:x1]
    dx, dy = np.abs(np.diff(part, axis=1)), np.abs(np.diff(part, axis=0))
    if mask is not None:
        inside = mask[y0:y1, x0:x1]
        dx, dy = dx * (inside[:, 1:] & inside[:, :-1]), dy * (inside[1:] & inside[:-1])
    return dx.sum(axis=0), dy.sum(axis=1)


def estimate_grids(y: np.ndarray) -> list[GridEstimate]:
    """The grids that windows of luma ``y`` (H, W) agree on, best first, refined on the
    region of interest they cover (fractional and integer grids alike). Windows are
    :data:`WINDOWS` px, each for the pitches that fit three times in it."""
    h, w = y.shape
    votes = []
    for win, lo, hi in WINDOWS:
        if min(h, w) < win:
            continue
        # (half periods too, so a pitch's harmonic can be checked)
        periods = np.arange(max(3.0, lo / 2), hi + COARSE_STEP / 2, COARSE_STEP)
        stride = win // 2
        where, cols, rows = [], [], []
        for y0 in range(0, h - win + 1, stride):
            for x0 in range(0, w - win + 1, stride):
                col, row = _profiles(y, (y0, y0 + win, x0, x0 + win))
                where.append((y0, y0 + win, x0, x0 + win))
                cols.append(col)
                rows.append(row)
        cols, rows = np.array(cols), np.array(rows)
        rx = np.abs(concentration(cols, periods, reuse=True))
        ry = np.abs(concentration(rows, periods, reuse=True))
        found = [(i, *pitch_of(rx[i], periods), *pitch_of(ry[i], periods))
                 for i in range(len(where))]
        found = [f for f in found if lo < f[1] < hi and lo < f[3] < hi]
        if not found:
            continue
        # One strong edge alone concentrates at every period; a spike train does not
        # at 1.5 times its pitch (its spikes fall a third of a turn apart there).
        index = [f[0] for f in found]
        off_x = np.abs(own_concentration(cols[index], 1.5 * np.array([f[1] for f in found])))
        off_y = np.abs(own_concentration(rows[index], 1.5 * np.array([f[3] for f in found])))
        for (i, px, sx, py, sy), ox, oy in zip(found, off_x, off_y, strict=True):
            if min(sx - ox, sy - oy) >= R_WINDOW:
                votes.append((min(sx, sy), px, py, where[i]))
    grids: list[GridEstimate] = []
    used = [False] * len(votes)
    for k, (_, px, py, _) in sorted(enumerate(votes), key=lambda kv: -kv[1][0]):
        if used[k]:
            continue
        group = [j for j, (_, qx, qy, _) in enumerate(votes) if not used[j]
                 and abs(qx - px) <= AGREE * px and abs(qy - py) <= AGREE * py]
        for j in group:
            used[j] = True
        roi = (min(votes[j][3][0] for j in group), max(votes[j][3][1] for j in group),
               min(votes[j][3][2] for j in group), max(votes[j][3][3] for j in group))
        grids.append(refine(y, roi, (px, py)))
    return sorted(grids, key=lambda g: -g.score)


def refine(y: np.ndarray, roi: Roi, pitch: tuple[float, float],
           mask: np.ndarray | None = None) -> GridEstimate:
    """Pitch (to 0.002 px) and phase of a grid over ``roi`` (inside ``mask``, when given),
    near the given pitch."""
    col, row = _profiles(y, roi, mask)
    out_pitch, out_phase, scores = [], [], []
    for profile, p, start in ((col, pitch[0], roi[2]), (row, pitch[1], roi[0])):
        # a window's estimate is coarse (a few cells): look 6 % either side
        periods = np.arange(p * (1 - REFINE), p * (1 + REFINE), 0.002)
        c = concentration(profile, periods)[0]
        i = int(np.abs(c).argmax())
        best = float(periods[i])
        # spikes at profile index x: the edge between pixels x and x + 1, at x + 1
        phase = (-np.angle(c[i]) / (2 * np.pi) * best + 1 + start) % best
        out_pitch.append(best)
        out_phase.append(float(phase))
        scores.append(float(np.abs(c[i])))
    return GridEstimate(CellGrid((out_pitch[0], out_pitch[1]), (out_phase[0], out_phase[1])),
                        roi, min(scores))


def phase_at(y: np.ndarray, roi: Roi, pitch: tuple[float, float]
             ) -> tuple[tuple[float, float], float]:
    """Phase (x, y) of a grid of a known pitch over ``roi``, and its R score (the smaller
    of across and down): where a grid seen before lies now."""
    col, row = _profiles(y, roi)
    phase, scores = [], []
    for profile, p, start in ((col, pitch[0], roi[2]), (row, pitch[1], roi[0])):
        if len(profile) < 2:
            return (0.0, 0.0), 0.0
        c = concentration(profile, np.array([p]))[0, 0]
        phase.append(float((-np.angle(c) / (2 * np.pi) * p + 1 + start) % p))
        scores.append(float(np.abs(c)))
    return (phase[0], phase[1]), min(scores)


def harmonic(small: float, large: float, tolerance: float = AGREE) -> int:
    """k >= 1 when ``large`` is within ``tolerance`` of ``k * small``, else 0: a spike train
    of pitch ``large`` also concentrates at ``large / k``."""
    k = round(large / small)
    return k if k >= 1 and abs(large - k * small) <= tolerance * large else 0


def families(estimates: list[GridEstimate]) -> list[GridEstimate]:
    """The estimates with each family of harmonics reduced to its fundamental, best first:
    square cells where one axis is a harmonic of the other; an estimate dropped where an
    overlapping one about as strong has a multiple of its pitch, or the same pitch."""
    squared = []
    for e in estimates:
        (px, py), (fx, fy) = e.grid.pitch, e.grid.phase
        if px < py and harmonic(px, py) >= 2:
            px = py
        elif py < px and harmonic(py, px) >= 2:
            py = px
        squared.append(GridEstimate(CellGrid((px, py), (fx, fy)), e.roi, e.score))
    out: list[GridEstimate] = []
    for e in sorted(squared, key=lambda e: -e.score):
        if any(_ratio(e, k) == 1 for k in out):
            continue  # the same grid, seen less well
        if any(_ratio(e, o) >= 2 and o.score >= 0.7 * e.score for o in squared):
            continue  # a harmonic of a coarser grid
        out.append(e)
    return out


def _ratio(e: GridEstimate, other: GridEstimate) -> int:
    """k when ``other``'s pitch is k times ``e``'s on both axes and their windows overlap."""
    kx = harmonic(e.grid.pitch[0], other.grid.pitch[0])
    ky = harmonic(e.grid.pitch[1], other.grid.pitch[1])
    return min(kx, ky) if kx and ky and _overlap(e.roi, other.roi) else 0


def _overlap(a: Roi, b: Roi) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def fit(y: np.ndarray, box: tuple[int, int, int, int], pitch: tuple[float, float],
        mask: np.ndarray | None = None) -> float:
    """How well a pitch explains the edges in ``box`` (x, y, w, h) of luma ``y`` (inside
    ``mask``, when given): the smaller of R across and down."""
    x, y0, w, h = box
    col, row = _profiles(y, (y0, y0 + h, x, x + w), mask)
    rx = np.abs(concentration(col, np.array([pitch[0]])))[0, 0] if len(col) > 1 else 0.0
    ry = np.abs(concentration(row, np.array([pitch[1]])))[0, 0] if len(row) > 1 else 0.0
    return float(min(rx, ry))


def to_integer_grid(grid: CellGrid, roi: Roi, block: int
                    ) -> tuple[np.ndarray, tuple[int, int]]:
    """The 2x3 affine map (OpenCV's, pixel centres) that resamples ``roi`` of the image so
    the grid's cells are ``block`` px squares with an edge at 0, and the resampled size
    (width, height)."""
    y0, y1, x0, x1 = roi
    sx, sy = block / grid.pitch[0], block / grid.pitch[1]
    # the last cell edge at or before the roi, in pixel-edge coordinates
    ex = grid.phase[0] - np.ceil((grid.phase[0] - x0) / grid.pitch[0]) * grid.pitch[0]
    ey = grid.phase[1] - np.ceil((grid.phase[1] - y0) / grid.pitch[1]) * grid.pitch[1]
    # edge coordinate u' = (u - e) * s; pixel centre c = u - 0.5
    m = np.array([[sx, 0, (0.5 - ex) * sx - 0.5], [0, sy, (0.5 - ey) * sy - 0.5]])
    size = (int(np.ceil((x1 - ex) * sx)), int(np.ceil((y1 - ey) * sy)))
    return m, size


def resample(image: np.ndarray, m: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` through the affine map ``m`` into ``size`` (the scales are near 1: the
    integer pitch is the nearest one)."""
    return cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def resample_back(mask: np.ndarray, m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A mask of the resampled image back on the original ``shape`` (H, W)."""
    back = cv2.warpAffine(mask.astype(np.uint8) * 255, m, (shape[1], shape[0]),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return back >= 128
