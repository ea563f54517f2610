"""Training samples for the learned mosaic finder: mosaics as they reach people.

Each sample is a square crop of a photo at a random zoom, with zero to three mosaics of
any block size (4 to 32 px as finally seen), square or not, with a grid at any offset;
around them, sometimes, the patterns a finder mistakes for mosaics (checkerboards,
tiles, brick walls, pixel art, screenshots), drawn over part of the crop or all of it.
Then the damage a mosaic meets on its way to a user, each with its own probability:
colour changes, a feathered or blurred edge, text or a logo drawn over it, rescaling by
a non-integer factor either way, JPEG or an x264 frame with 4:2:0 chroma. The mask says
which pixels are mosaic; it goes through the same rescaling as the picture
(area-weighted, >= 0.5), and a feathered band counts where the mosaic's weight is at
least 0.05, as in ``benchmarks/find_mosaic_iou.py``.

The damages are functions of their own, shared with the benchmark and the tests.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

from ..imageio import encode_jpeg
from ..mosaic import pixelate_array

MIN_BLOCK, MAX_BLOCK = 4, 32  # cell sizes as finally seen, px
FEATHER_ALPHA = 0.05  # a feathered band's pixels count as mosaic from this weight


@dataclass(frozen=True)
class Damage:
    """How likely each damage is in a sample."""

    mosaics: tuple[float, ...] = (0.2, 0.5, 0.22, 0.08)  # P(0, 1, 2, 3 mosaics)
    lookalike: float = 0.35  # a pattern that is not a mosaic drawn somewhere
    lookalike_whole: float = 0.2  # ...covering the whole crop (when there is no mosaic)
    stretched: float = 0.15  # cells not square
    feathered: float = 0.15
    blurred: float = 0.1
    overlay: float = 0.15  # text or a logo drawn over the mosaic
    colour: float = 0.3
    rescaled: float = 0.5
    jpeg: float = 0.45
    x264: float = 0.25


def rescale(image: np.ndarray, mask: np.ndarray, factor: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """The image resized by ``factor`` (INTER_AREA down, bicubic up) and its mask
    (area-weighted, >= 0.5)."""
    size = (max(8, round(image.shape[1] * factor)), max(8, round(image.shape[0] * factor)))
    down = factor < 1
    out = cv2.resize(image, size, interpolation=cv2.INTER_AREA if down else cv2.INTER_CUBIC)
    truth = cv2.resize(mask.astype(np.float32), size,
                       interpolation=cv2.INTER_AREA if down else cv2.INTER_LINEAR) >= 0.5
    return out, truth


def feather(clean: np.ndarray, mosaic: np.ndarray, mask: np.ndarray, width: float
            ) -> tuple[np.ndarray, np.ndarray]:
    """The mosaic blended into the photo over a band of about ``width`` px each side."""
    alpha = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), width / 2)[..., None]
    out = np.round(alpha * mosaic + (1 - alpha) * clean).astype(np.uint8)
    return out, alpha[..., 0] >= FEATHER_ALPHA


def x264_frame(image: np.ndarray, crf: int) -> np.ndarray:
    """``image`` (H, W, 3) uint8 as one frame of an x264 video at ``crf``, 4:2:0 chroma."""
    import av

    h, w = image.shape[:2]
    padded = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25, options={"crf": str(crf)})
        stream.width, stream.height = padded.shape[1], padded.shape[0]
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(padded, format="rgb24")
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buffer.seek(0)
    with av.open(buffer) as source:
        decoded = next(source.decode(video=0)).to_ndarray(format="rgb24")
    return np.ascontiguousarray(decoded[:h, :w])


def stretched_mosaic(image: np.ndarray, mask: np.ndarray, block: tuple[int, int],
                     origin: tuple[int, int]) -> np.ndarray:
    """A mosaic of cells ``block`` = (width, height) px: each cell its rounded mean."""
    bw, bh = block
    h, w = image.shape[:2]
    ox, oy = origin[0] % bw, origin[1] % bh
    # pad so the grid starts at 0 and covers the image, then mean by reshaping
    top, left = (bh - oy) % bh, (bw - ox) % bw
    hh, ww = -(-(h + top) // bh) * bh, -(-(w + left) // bw) * bw
    canvas = cv2.copyMakeBorder(image, top, hh - h - top, left, ww - w - left,
                                cv2.BORDER_REFLECT).astype(np.float64)
    cells = canvas.reshape(hh // bh, bh, ww // bw, bw, 3).mean(axis=(1, 3))
    tiles = np.repeat(np.repeat(np.round(cells), bh, 0), bw, 1)[top:top + h, left:left + w]
    return np.where(mask[..., None], tiles.astype(np.uint8), image)


def random_shape(rng: np.random.Generator, size: tuple[int, int], smallest: int
                 ) -> np.ndarray:
    """A rectangle, ellipse, rounded rectangle or polygon mask inside ``size`` = (h, w)."""
    h, w = size
    rw = int(rng.integers(min(smallest, w), max(smallest, int(w * 0.9)) + 1))
    rh = int(rng.integers(min(smallest, h), max(smallest, int(h * 0.9)) + 1))
    x, y = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
    mask = np.zeros((h, w), np.uint8)
    kind = rng.choice(4, p=(0.45, 0.3, 0.1, 0.15))
    if kind == 0:
        mask[y:y + rh, x:x + rw] = 1
    elif kind == 1:
        cv2.ellipse(mask, (x + rw // 2, y + rh // 2), (rw // 2, rh // 2), 0, 0, 360, 1, -1)
    elif kind == 2:  # rounded: the corner squares cut, then circles drawn in them
        r = int(min(rw, rh) * rng.uniform(0.1, 0.4))
        mask[y:y + rh, x:x + rw] = 1
        mask[y:y + r, x:x + r] = mask[y:y + r, x + rw - r:x + rw] = 0
        mask[y + rh - r:y + rh, x:x + r] = mask[y + rh - r:y + rh, x + rw - r:x + rw] = 0
        for cx, cy in ((x + r, y + r), (x + rw - r - 1, y + r), (x + r, y + rh - r - 1),
                       (x + rw - r - 1, y + rh - r - 1)):
            cv2.circle(mask, (cx, cy), r, 1, -1)
    else:
        n = int(rng.integers(3, 8))
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(0.5, 1.0, n)
        pts = np.stack([x + rw / 2 * (1 + radius * np.cos(angles)),
                        y + rh / 2 * (1 + radius * np.sin(angles))], 1)
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1)
    return mask.astype(bool)


# --- patterns that are not mosaics ---------------------------------------------------------

def _colours(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, 3)).astype(np.float32)


def checkerboard(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    cell = int(rng.integers(4, 40))
    yy, xx = np.mgrid[:h, :w]
    pick = ((yy // cell + xx // cell) % 2).astype(int)
    return _colours(rng, 2)[pick]


def tiles(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Square or oblong tiles, each its own shade, with grout lines."""
    h, w = size
    tw, th = int(rng.integers(6, 48)), int(rng.integers(6, 48))
    if rng.random() < 0.5:
        th = tw
    grout = int(rng.integers(1, 4))
    base = _colours(rng, 1)[0]
    shades = base + rng.normal(0, rng.uniform(3, 30), ((h // th + 2) * (w // tw + 2), 3))
    yy, xx = np.mgrid[:h, :w]
    ids = (yy // th) * (w // tw + 2) + xx // tw
    out = shades[ids]
    lines = (yy % th < grout) | (xx % tw < grout)
    out[lines] = _colours(rng, 1)[0]
    return out


def bricks(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Rows of bricks, every other row offset by half a brick, with mortar and grain."""
    h, w = size
    bh = int(rng.integers(6, 30))
    bw = int(bh * rng.uniform(1.8, 3.2))
    yy, xx = np.mgrid[:h, :w]
    row = yy // bh
    shifted = xx + (row % 2) * (bw // 2)
    ids = row * (w // bw + 3) + shifted // bw
    base = _colours(rng, 1)[0]
    out = base + rng.normal(0, rng.uniform(5, 25), (int(ids.max()) + 1, 3))[ids]
    mortar = (yy % bh < 2) | (shifted % bw < 2)
    out[mortar] = base * 0.4 + 150
    return out + rng.normal(0, rng.uniform(0, 8), out.shape)


def pixel_art(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A small picture in a few palette colours, shapes on a plain ground, scaled up by a
    whole factor with nearest-neighbour (what pixel art and sprites look like)."""
    h, w = size
    k = int(rng.integers(2, 13))
    sh, sw = -(-h // k), -(-w // k)
    palette = _colours(rng, int(rng.integers(3, 17)))
    small = np.zeros((sh, sw), np.int32)
    for _ in range(int(rng.integers(3, 15))):
        colour = int(rng.integers(1, len(palette)))
        x0, y0 = int(rng.integers(0, sw)), int(rng.integers(0, sh))
        x1 = x0 + int(rng.integers(1, max(2, sw // 2)))
        y1 = y0 + int(rng.integers(1, max(2, sh // 2)))
        if rng.random() < 0.5:
            small[y0:y1, x0:x1] = colour
        else:
            cv2.circle(small, (x0, y0), int(rng.integers(1, max(2, min(sh, sw) // 3))),
                       colour, -1)
    art = palette[small]
    return np.repeat(np.repeat(art, k, 0), k, 1)[:h, :w]


def screenshot(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Flat panels, buttons and lines of text, as in a screen recording."""
    h, w = size
    out = np.empty((h, w, 3), np.uint8)
    out[:] = _colours(rng, 1)[0].astype(np.uint8)
    for _ in range(int(rng.integers(2, 10))):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1 = x0 + int(rng.integers(10, max(11, w // 2)))
        y1 = y0 + int(rng.integers(8, max(9, h // 3)))
        cv2.rectangle(out, (x0, y0), (x1, y1), _colours(rng, 1)[0].tolist(), -1)
    for _ in range(int(rng.integers(1, 12))):
        text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789 "), 12))
        cv2.putText(out, text, (int(rng.integers(0, w)), int(rng.integers(8, h))),
                    cv2.FONT_HERSHEY_SIMPLEX, float(rng.uniform(0.3, 1.0)),
                    _colours(rng, 1)[0].tolist(), 1, cv2.LINE_AA)
    return out.astype(np.float32)


LOOKALIKES = {"checkerboard": checkerboard, "tiles": tiles, "bricks": bricks,
              "pixel art": pixel_art, "screenshot": screenshot}


def lookalike(rng: np.random.Generator, kind: str, size: tuple[int, int]) -> np.ndarray:
    """A pattern of ``kind`` (a key of LOOKALIKES), (h, w, 3) uint8, lit unevenly."""
    pattern = LOOKALIKES[kind](rng, size)
    light = np.linspace(rng.uniform(0.7, 1.1), rng.uniform(0.7, 1.1), size[1])[None, :, None]
    return np.clip(pattern * light, 0, 255).astype(np.uint8)


def _overlay(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Text or a logo drawn over the mosaic (in place)."""
    ys, xs = np.nonzero(mask)
    x, y = int(rng.choice(xs)), int(rng.choice(ys))
    colour = _colours(rng, 1)[0].tolist()
    if rng.random() < 0.6:
        text = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@#"), 8))
        cv2.putText(image, text, (x - 40, y), cv2.FONT_HERSHEY_SIMPLEX,
                    float(rng.uniform(0.4, 1.2)), colour, int(rng.integers(1, 3)), cv2.LINE_AA)
    else:
        r = int(rng.integers(5, 20))
        cv2.circle(image, (x, y), r, colour, -1, cv2.LINE_AA)
        cv2.rectangle(image, (x - r // 2, y - r // 2), (x + r // 2, y + r // 2),
                      _colours(rng, 1)[0].tolist(), -1)


def _colour_jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    f = image.astype(np.float32)
    grey = f.mean(axis=2, keepdims=True)
    f = grey + (f - grey) * rng.uniform(0.5, 1.4)
    f = (f - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-25, 25)
    return np.clip(f, 0, 255).astype(np.uint8)


def sample(photo: np.ndarray, rng: np.random.Generator, size: int = 256,
           damage: Damage = Damage()) -> tuple[np.ndarray, np.ndarray]:
    """One training sample from ``photo`` (H, W, 3) uint8: (image, mask) of ``size``."""
    factor = float(rng.uniform(0.5, 2.0)) if rng.random() < damage.rescaled else 1.0
    side = max(16, round(size / factor) + 2)
    image = _crop(rng, photo, side)
    if rng.random() < damage.colour:
        image = _colour_jitter(rng, image)
    count = int(rng.choice(len(damage.mosaics), p=damage.mosaics))
    if rng.random() < damage.lookalike:
        kind = str(rng.choice(list(LOOKALIKES)))
        whole = count == 0 and rng.random() < damage.lookalike_whole / damage.lookalike
        where = np.ones((side, side), bool) if whole else random_shape(rng, (side, side), 24)
        pattern = lookalike(rng, kind, (side, side))
        image = np.where(where[..., None], pattern, image)
    truth = np.zeros((side, side), bool)
    for _ in range(count):
        image, found = _add_mosaic(rng, image, factor, damage)
        truth |= found
    if factor != 1.0:
        image, truth = rescale(image, truth, factor)
    image, truth = image[:size, :size], truth[:size, :size]
    if image.shape[0] < size or image.shape[1] < size:  # rounding: pad by reflection
        pad = ((0, size - image.shape[0]), (0, size - image.shape[1]))
        image, truth = np.pad(image, (*pad, (0, 0)), mode="reflect"), np.pad(truth, pad)
    coded = rng.random()
    if coded < damage.jpeg:
        image = encode_jpeg(image, int(rng.integers(55, 96)))
    elif coded < damage.jpeg + damage.x264:
        image = x264_frame(image, int(rng.integers(18, 33)))
    return np.ascontiguousarray(image), truth


def _crop(rng: np.random.Generator, photo: np.ndarray, side: int) -> np.ndarray:
    """A square of ``side`` px from ``photo`` at a random zoom (enlarged only when the
    photo is smaller than ``side``)."""
    h, w = photo.shape[:2]
    if min(h, w) < side:
        photo = cv2.resize(photo, (max(side, round(w * side / min(h, w))),
                                   max(side, round(h * side / min(h, w)))),
                           interpolation=cv2.INTER_CUBIC)
        h, w = photo.shape[:2]
    src = int(rng.integers(side, min(h, w, side * 4) + 1))
    x, y = int(rng.integers(0, w - src + 1)), int(rng.integers(0, h - src + 1))
    crop = photo[y:y + src, x:x + src]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA))


def _add_mosaic(rng: np.random.Generator, image: np.ndarray, factor: float,
                damage: Damage) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with one mosaic added, and the mosaic's mask."""
    side = image.shape[0]
    # the block as finally seen is MIN_BLOCK..MAX_BLOCK; here it is that over the rescale
    seen = float(np.exp(rng.uniform(np.log(MIN_BLOCK), np.log(MAX_BLOCK))))
    block = max(2, round(seen / factor))
    block = min(block, side // 3)
    mask = random_shape(rng, (side, side), min(side, 3 * block))
    origin = (int(rng.integers(0, block)), int(rng.integers(0, block)))
    if rng.random() < damage.stretched:
        other = max(2, round(block * rng.uniform(0.67, 1.5)))
        cells = (block, other) if rng.random() < 0.5 else (other, block)
        mosaic = stretched_mosaic(image, mask, cells, origin)
    else:
        mosaic = pixelate_array(image, mask, block, origin)
    truth = mask
    if rng.random() < damage.blurred:
        blurred = cv2.GaussianBlur(mosaic, (0, 0), float(rng.uniform(0.5, 1.5)))
        grown = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        mosaic = np.where(grown[..., None], blurred, mosaic)
        truth = grown
    if rng.random() < damage.feathered:
        mosaic, truth = feather(image, mosaic, truth, float(rng.uniform(1, 8)))
    if rng.random() < damage.overlay:
        _overlay(rng, mosaic, mask)
    return mosaic, truth
