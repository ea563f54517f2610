"""Video jobs on tiny clips made here with PyAV: a moving pattern and a sine audio track."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from mosaicgan.detect.base import Detection
from mosaicgan.errors import InputError
from mosaicgan.find import MosaicFollower
from mosaicgan.jobs.mosaic import mosaic_video
from mosaicgan.jobs.restore import restore_video
from mosaicgan.jobs.translate import translate_video
from mosaicgan.models.restorer import Restorer
from mosaicgan.mosaic import blur_array
from mosaicgan.options import VideoOptions
from mosaicgan.safety import CONTEXTS
from mosaicgan.video.hiding import mosaic_in
from mosaicgan.video.io import PerFrame, is_video, probe, process_video, read_frames
from mosaicgan.video.processors import OutputRefused

from .conftest import FakeDetector

av = pytest.importorskip("av")
QUIET = VideoOptions(progress=False)

W, H, FPS, N = 96, 64, 10, 20
BOX = (16, 16, 48, 32)  # x, y, w, h: whole 8-px cells from the box's corner
BLOCK = 8
# Loss of one more x264 pass at crf 18 on this busy 96x64 pattern, measured: mean ~1.6,
# 99th percentile ~6 (the same whether frames are passed through or converted).
TOL_MEAN, TOL_P99 = 2.5, 10


def pattern(i: int, width: int = W, height: int = H) -> np.ndarray:
    """A smooth pattern drifting with the frame number i, (H, W, 3) uint8."""
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    r = 128 + 100 * np.sin((xx + 2 * i) / 7.0) * np.cos(yy / 9.0)
    g = 128 + 90 * np.sin((xx - yy + 3 * i) / 11.0)
    b = 128 + 80 * np.cos((xx * 0.5 + yy + i) / 5.0)
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


def make_clip(path: Path, *, n: int = N, width: int = W, height: int = H, audio: bool = True,
              rotation: int = 0, pts_ms: list[int] | None = None) -> Path:
    """Write a clip: libx264 video (optionally rotated or with irregular pts in ms) and a
    440 Hz AAC track as long as the video."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "12", "preset": "ultrafast"}
        if pts_ms is not None:
            v.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            v.set_display_rotation(rotation)
        if audio:
            a = c.add_stream("aac", rate=8000)
            a.layout = "mono"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(pattern(i, width, height), format="rgb24")
            if pts_ms is not None:
                frame.pts, frame.time_base = pts_ms[i], Fraction(1, 1000)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if audio:
            t = np.arange(8000 * n // FPS) / 8000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, k:k + 1024]),
                                                   format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = 8000, k
                for p in a.encode(chunk):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)
    return path


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


def frames_of(path: Path) -> np.ndarray:
    return np.stack([f for _, f in read_frames(path)])


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.dts is not None]


def video_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


def cells(frames: np.ndarray, box, block: int) -> np.ndarray:
    """(T, cells, pixels, 3): each grid cell of box (origin: box corner), less its 1-px rim
    (4:2:0 chroma is interpolated across cell edges when decoded)."""
    x, y, w, h = box
    part = frames[:, y:y + h, x:x + w].astype(np.float32)
    t = part.shape[0]
    part = part.reshape(t, h // block, block, w // block, block, 3).transpose(0, 1, 3, 2, 4, 5)
    return part[:, :, :, 1:-1, 1:-1].reshape(t, -1, (block - 2) ** 2, 3)


def outside_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """Mean and 99th percentile of |a - b| outside mask (H, W), over all frames."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))[:, ~mask]
    return float(d.mean()), float(np.percentile(d, 99))


def box_mask_of(box, height=H, width=W, grow=0) -> np.ndarray:
    x, y, w, h = box
    m = np.zeros((height, width), bool)
    m[max(y - grow, 0):y + h + grow, max(x - grow, 0):x + w + grow] = True
    return m


def test_mosaic_in_equals_mosaic_image():
    from mosaicgan.api import mosaic_image

    rng = np.random.default_rng(0)
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(20, 90, 2))
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        x, y = int(rng.integers(0, w - 4)), int(rng.integers(0, h - 4))
        mask = box_mask_of((x, y, int(rng.integers(1, 30)), int(rng.integers(1, 30))), h, w)
        block = int(rng.integers(1, 12))
        origin = (int(rng.integers(-20, 20)), int(rng.integers(-20, 20)))
        expected = mosaic_image(image, mask, block, origin)
        assert np.array_equal(mosaic_in(image, mask, block, origin), expected)
        assert np.array_equal(mosaic_in(image, mask, block, origin, (0, 0, w, h)), expected)
    empty = np.zeros((8, 8), bool)
    assert mosaic_in(image, empty[:h, :w] if h <= 8 else np.zeros((h, w), bool), 4, (0, 0)) \
        is image  # nothing to do: the same array (passed through untouched)


# --- I/O ----------------------------------------------------------------------------------

def test_is_video_and_probe(clip):
    assert is_video("a.MP4") and is_video("b.mkv") and not is_video("c.png")
    info = probe(clip)
    assert (info.width, info.height, info.rotation) == (W, H, 0)
    assert info.fps == FPS and info.frames == N and info.duration == pytest.approx(N / FPS)
    assert info.has_audio and info.audio_codecs == ("aac",) and info.pix_fmt == "yuv420p"
    assert "96x64" in info.describe()


def test_mosaic_box_every_frame_audio_bytes_kept(clip, tmp_path):
    out = tmp_path / "out.mp4"
    report = mosaic_video(clip, out, box=BOX, block=BLOCK, options=QUIET, log=lambda _: None)
    assert report.frames_read == report.frames_written == N
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]  # no temporary file left
    src, dst = frames_of(clip), frames_of(out)
    assert len(dst) == N
    # Every frame is pixelated in the box: each cell nearly flat, where the input varies.
    spread_in = cells(src, BOX, BLOCK).std(axis=2).mean(axis=(1, 2))
    spread_out = cells(dst, BOX, BLOCK).std(axis=2).mean(axis=(1, 2))
    assert spread_in.min() > 10
    assert spread_out.max() < 0.2 * spread_in.min(), (spread_out, spread_in)
    # Outside the box: the codec's loss only (the box edge shares chroma with it).
    mean, p99 = outside_diff(src, dst, box_mask_of(BOX, grow=1))
    assert mean < TOL_MEAN and p99 < TOL_P99, (mean, p99)
    info = probe(out)
    assert info.frames == N and info.duration == pytest.approx(N / FPS)
    assert video_times(out) == video_times(clip)
    assert audio_packets(out) == audio_packets(clip)
    assert report.audio_packets == len(audio_packets(clip))


def test_the_summary_says_where_the_time_went(clip, tmp_path):
    """A processor that sleeps 20 ms a frame: the report puts that time in processing;
    each thread's part is within the whole."""
    import time as clock

    def slow(frame, index):
        clock.sleep(0.02)
        return frame

    report = process_video(clip, tmp_path / "slow.mp4", PerFrame(slow), QUIET)
    assert report.processing_seconds >= 0.02 * N
    assert report.encoding_seconds > 0
    assert report.decoding_seconds > 0
    for part in (report.processing_seconds, report.encoding_seconds, report.decoding_seconds):
        assert part <= report.seconds
    line = report.summary()
    assert f"processing {report.processing_seconds:.1f} s" in line
    assert f"encoding {report.encoding_seconds:.1f} s" in line
    assert f"decoding {report.decoding_seconds:.1f} s" in line


def test_untouched_pixels_keep_their_samples(clip, tmp_path):
    """Returning the input array re-encodes the decoded frame; an equal copy is spliced
    back into the decoded samples. Either way only the encoder's loss is left.

    (x264's output is not bit-identical from run to run once frames have been converted
    in between, even in plain PyAV, so the losses are compared, not the bytes.)"""
    losses = []
    for name, fn in (("same", lambda f, i: f), ("copy", lambda f, i: f.copy())):
        out = tmp_path / f"{name}.mkv"
        process_video(clip, out, PerFrame(fn), QUIET)
        losses.append(outside_diff(frames_of(clip), frames_of(out), np.zeros((H, W), bool)))
    for mean, p99 in losses:
        assert mean < TOL_MEAN and p99 < TOL_P99, losses
    assert abs(losses[0][0] - losses[1][0]) < 0.3, losses


def test_without_audio(tmp_path):
    src = make_clip(tmp_path / "silent.mkv", audio=False, n=8)
    out = tmp_path / "out.mkv"
    report = mosaic_video(src, out, box=BOX, options=QUIET)
    assert report.frames_written == 8 and report.audio_packets == 0
    assert not probe(out).has_audio


def test_subtitles_copied_or_dropped_with_a_note(tmp_path):
    srt = tmp_path / "s.srt"
    srt.write_text("1\n00:00:00,200 --> 00:00:00,400\nline one\n\n"
                   "2\n00:00:00,600 --> 00:00:00,800\nline two\n\n")
    src = tmp_path / "sub.mkv"
    with av.open(str(srt)) as text, av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        s = c.add_stream_from_template(text.streams.subtitles[0])
        for i in range(8):
            for p in v.encode(av.VideoFrame.from_ndarray(pattern(i), format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        for p in text.demux():
            if p.dts is not None:
                p.stream = s
                c.mux(p)
    keep = process_video(src, tmp_path / "out.mkv", PerFrame(lambda f, i: f), QUIET)
    assert keep.notes == []
    with av.open(str(tmp_path / "out.mkv")) as c:
        lines = [bytes(p) for p in c.demux(c.streams.subtitles[0]) if p.size]
    assert lines == [b"line one", b"line two"]
    notes = []
    drop = process_video(src, tmp_path / "out.mp4", PerFrame(lambda f, i: f), QUIET,
                         log=notes.append)
    assert drop.notes == notes and len(notes) == 1 and "dropped" in notes[0]
    assert probe(tmp_path / "out.mp4").subtitle_codecs == ()


def test_rotation_kept_and_frames_upright(tmp_path):
    # Coded 96x64, shown rotated by 90 degrees: the processor sees 64 wide, 96 high.
    src = make_clip(tmp_path / "rot.mp4", n=6, rotation=90)
    info = probe(src)
    assert (info.rotation, info.width, info.height) == (90, H, W)
    with av.open(str(src)) as c:
        coded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    shown = frames_of(src)
    assert shown.shape[1:3] == (W, H)
    upright = np.abs(shown.astype(int) - np.rot90(coded, 1, axes=(1, 2))).mean()
    upside_down = np.abs(shown.astype(int) - np.rot90(coded, -1, axes=(1, 2))).mean()
    assert upright < 6 and upside_down > 5 * upright, (upright, upside_down)
    seen = []

    def fn(frame, i):
        seen.append(frame.shape)
        return mosaic_in(frame, box_mask_of((8, 8, 40, 48), W, H), BLOCK, (8, 8))

    out = tmp_path / "out.mp4"
    process_video(src, out, PerFrame(fn), QUIET)
    assert set(seen) == {(W, H, 3)}
    result = probe(out)
    assert (result.rotation, result.width, result.height) == (90, H, W)
    dst = frames_of(out)
    # The mosaic is where the processor put it, in display coordinates.
    spread_in = cells(shown, (8, 8, 40, 48), BLOCK).std(axis=2).mean()
    assert cells(dst, (8, 8, 40, 48), BLOCK).std(axis=2).mean() < 0.2 * spread_in
    mean, _ = outside_diff(shown, dst, box_mask_of((8, 8, 40, 48), W, H, grow=1))
    assert mean < TOL_MEAN


def test_variable_frame_rate_timestamps_kept(tmp_path):
    pts = [0, 100, 150, 400, 420, 500, 800, 810, 900, 1000, 1100, 1300]
    src = make_clip(tmp_path / "vfr.mkv", n=len(pts), pts_ms=pts, audio=False)
    out = tmp_path / "out.mkv"
    mosaic_video(src, out, box=BOX, options=QUIET)
    assert video_times(out) == [Fraction(p, 1000) for p in pts]


def test_start_and_duration(clip, tmp_path):
    out = tmp_path / "cut.mp4"
    report = mosaic_video(clip, out, box=BOX,
                          options=VideoOptions(start=0.5, duration=1.0, progress=False))
    assert report.frames_written == 10
    times = video_times(out)
    assert len(times) == 10 and times[0] == 0  # shifted to start at 0
    packets = audio_packets(out)
    assert 0 < len(packets) < len(audio_packets(clip))
    assert set(packets) <= set(audio_packets(clip))  # copied, not re-encoded
    with pytest.raises(ValueError, match="start"):
        mosaic_video(clip, tmp_path / "x.mp4", box=BOX,
                     options=VideoOptions(start=-1, progress=False))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "cut_tail"])
def test_bad_video_one_line_error_and_no_output(clip, tmp_path, damage):
    data = clip.read_bytes()
    src = tmp_path / "in" / "bad.mp4"
    src.parent.mkdir()
    if damage == "truncated":  # moov atom at the end: a recording cut off
        src.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        src.write_bytes(b"this is not a video\n" * 20)
    elif damage == "empty":
        src.write_bytes(b"")
    else:  # a Matroska file cut two thirds in: its header still says 2 s
        src = make_clip(src.with_suffix(".mkv"))
        src.write_bytes(src.read_bytes()[:src.stat().st_size * 2 // 3])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(InputError) as err:
        mosaic_video(src, out_dir / "x.mp4", box=BOX, options=QUIET)
    message = str(err.value)
    assert str(src) in message and "\n" not in message
    assert ("truncated" in message) or ("not a readable video" in message)
    assert list(out_dir.iterdir()) == []


def test_bad_arguments(clip, tmp_path):
    with pytest.raises(InputError, match="equals the input"):
        mosaic_video(clip, clip, box=BOX, options=QUIET)
    with pytest.raises(InputError, match="unknown video suffix"):
        mosaic_video(clip, tmp_path / "x.png", box=BOX, options=QUIET)
    with pytest.raises(InputError, match="outside"):
        mosaic_video(clip, tmp_path / "x.mp4", box=(500, 500, 10, 10), options=QUIET)
    with pytest.raises(InputError, match="cannot hold"):  # AAC cannot go into WebM
        mosaic_video(clip, tmp_path / "x.webm", box=BOX, options=QUIET)
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


class Lookahead:
    """Holds `delay` frames back before returning them, inverted."""

    def __init__(self, delay: int):
        self.delay, self.held = delay, []

    def push(self, frames, indices):
        self.held += frames
        ready, self.held = self.held[:-self.delay], self.held[-self.delay:]
        return [255 - f for f in ready]

    def flush(self):
        ready, self.held = self.held, []
        return [255 - f for f in ready]


def test_processor_with_lookahead_and_broken_processors(clip, tmp_path):
    out = tmp_path / "inv.mkv"
    report = process_video(clip, out, Lookahead(5), VideoOptions(batch=3, progress=False))
    assert report.frames_written == N
    inverted, got = 255 - frames_of(clip).astype(int), frames_of(out)
    errors = np.abs(got[:, None] - inverted[None]).mean(axis=(2, 3, 4))  # (output, input)
    assert (errors.argmin(axis=1) == np.arange(N)).all()  # each frame kept its place
    assert errors.diagonal().mean() < 2 * TOL_MEAN

    class Loses(Lookahead):
        def flush(self):
            return []

    with pytest.raises(RuntimeError, match="returned"):
        process_video(clip, tmp_path / "lost.mkv", Loses(2), QUIET)

    def interrupted(frame, i):
        if i == 7:
            raise KeyboardInterrupt
        return frame

    with pytest.raises(KeyboardInterrupt):
        process_video(clip, tmp_path / "stop.mkv", PerFrame(interrupted), QUIET)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inv.mkv"]


def test_tracked_mosaic_covers_every_frame(clip, tmp_path):
    """A detector that misses every third frame and runs on every other frame only (and
    on the last one)."""
    from mosaicgan.regions.base import Regions

    calls = []

    def region_fn(frame):  # a mask, or a Regions as the detectors give
        calls.append(1)
        mask = box_mask_of(BOX) if len(calls) % 3 else np.zeros((H, W), bool)
        return Regions(mask) if len(calls) % 2 else mask

    out = tmp_path / "tracked.mp4"
    mosaic_video(clip, out, region_fn=region_fn, block=BLOCK, detect_every=2, options=QUIET)
    assert len(calls) == N // 2 + 1  # N is even: the last frame is not on the stride
    src, dst = frames_of(clip), frames_of(out)
    assert len(dst) == N
    # The grid is anchored to the frame, so BOX is whole cells; all of them flat, always.
    spread_in = cells(src, BOX, BLOCK).std(axis=2).mean(axis=(1, 2))
    spread_out = cells(dst, BOX, BLOCK).std(axis=2).mean(axis=(1, 2))
    assert spread_out.max() < 0.2 * spread_in.min(), (spread_out, spread_in)


@pytest.mark.parametrize("style", ["blur", "solid"])
@pytest.mark.parametrize("tracked", [False, True])
def test_blur_and_solid_fill_hide_the_region_in_every_frame(clip, tmp_path, style, tracked):
    out = tmp_path / f"{style}.mp4"
    if tracked:
        # (not stabilised: the tracker grows a box by a margin, so the region is exact)
        mosaic_video(clip, out, region_fn=lambda frame: box_mask_of(BOX), style=style,
                     stabilise=False, options=QUIET)
    else:
        mosaic_video(clip, out, box=BOX, style=style, options=QUIET)
    src, dst = frames_of(clip), frames_of(out)
    assert len(dst) == N
    x, y, w, h = BOX
    inner = (slice(None), slice(y + 2, y + h - 2), slice(x + 2, x + w - 2))
    if style == "solid":  # black, up to the codec's loss
        assert dst[inner].mean() < 2 and dst[inner].max() < 24, dst[inner].max()
        assert src[inner].mean() > 60
    else:  # blurred as the image job blurs, in every frame, up to the codec's loss
        expected = np.stack([blur_array(f, box_mask_of(BOX)) for f in src])
        off = np.abs(dst[inner].astype(np.int16) - expected[inner]).mean(axis=(1, 2, 3))
        moved = np.abs(src[inner].astype(np.int16) - expected[inner]).mean(axis=(1, 2, 3))
        assert off.max() < moved.min() / 3, (off, moved)  # (moved: the blur's own change)
    mean, p99 = outside_diff(src, dst, box_mask_of(BOX, grow=1))
    assert mean < TOL_MEAN and p99 < TOL_P99, (mean, p99)
    with pytest.raises(ValueError, match="unknown style 'pixelate'"):
        mosaic_video(clip, tmp_path / "x.mp4", box=BOX, style="pixelate", options=QUIET)


def test_faces_in_a_video_hidden_as_ellipses(clip, tmp_path, inject):
    """--shape ellipse on a video: the face's middle hidden in every frame, the corners of
    its box as they were (tracked as ellipses, not turned back into boxes)."""
    from mosaicgan.options import RegionSpec

    face = (28, 12, 40, 40)
    inject(FakeDetector([Detection("FACE_FEMALE", 0.9, face)]))
    out = tmp_path / "ellipse.mp4"
    mosaic_video(clip, out, where=RegionSpec("face", margin=0.25, shape="ellipse"),
                 style="solid", options=QUIET)
    src, dst = frames_of(clip), frames_of(out)
    x, y, w, h = face
    assert dst[:, y:y + h, x + 4:x + w - 4].mean() < 3  # the face filled, every frame
    near = np.abs(dst.astype(np.int16) - src).mean(axis=3)
    x, y, w, h = x - 10, y - 10, w + 20, h + 20  # the box grown by the margin
    for cx, cy in ((x, y), (x + w - 4, y), (x, y + h - 4), (x + w - 4, y + h - 4)):
        assert near[:, cy:cy + 4, cx:cx + 4].mean() < 2 * TOL_MEAN  # the codec's loss only


def test_a_tracked_face_blur_scales_with_the_face_and_holds_steady():
    """The blur's sigma follows the face rule and does not weaken as the box wobbles."""
    from functools import partial

    from mosaicgan.regions.strength import face_sigma
    from mosaicgan.video.hiding import TrackedMosaic
    from mosaicgan.video.temporal import Region

    rule = partial(face_sigma, margin=0.0)
    hider = TrackedMosaic(lambda f: None, style="blur", sigma_rule=rule)
    nowhere = np.zeros((4, 4), bool)  # (only the box matters here)
    sigmas = [hider._sigma_for(Region(1, "seen", (10, 10, w, w), (10, 10, w, w), nowhere,
                                      (10, 10, w, w))) for w in (100, 104, 98, 103, 200)]
    face = [rule((10, 10, w, w)) for w in (100, 104, 200)]
    # Stronger at once as the face grows, never weaker as it wobbles smaller.
    assert sigmas == [face[0], face[1], face[1], face[1], face[2]]
    assert face[0] < face[1] < face[2]


# --- restore ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mosaiced(clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mosaiced") / "mosaiced.mp4"
    mosaic_video(clip, out, box=BOX, block=BLOCK, options=QUIET)
    return out


def test_restore_video_leaves_outside_untouched(mosaiced, tiny_model, tmp_path, no_detections):
    detector = no_detections
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    mask = box_mask_of(BOX)
    out = tmp_path / "restored.mp4"
    report = restore_video(mosaiced, out, restorer, mask=mask,
                           options=VideoOptions(batch=4, progress=False),
                           log=lambda _: None)
    assert report.frames_written == N
    assert report.regions_restored == N and report.regions_refused == 0
    # the gate ran on the one region of every frame, once per context
    assert detector.calls == len(CONTEXTS) * N
    (entry,) = report.synthesized.values()
    assert entry["frames"] == [0, N - 1] and entry["count"] == N
    src, dst = frames_of(mosaiced), frames_of(out)
    mean, p99 = outside_diff(src, dst, box_mask_of(BOX, grow=1))
    assert mean < TOL_MEAN and p99 < TOL_P99, (mean, p99)
    inside = np.abs(src.astype(int) - dst)[:, mask].mean()
    assert inside > 3  # the generator changed the region
    assert audio_packets(out) == audio_packets(mosaiced)


def test_restore_processor_equals_restorer(mosaiced, tiny_model, no_detections):
    """Frame by frame, before encoding: the same pixels as Restorer.restore."""
    from mosaicgan.video.processors import RestoreProcessor, RestoreVideoReport
    from mosaicgan.video.temporal import RegionTracker

    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    frames = list(frames_of(mosaiced))
    for f in frames:
        f.flags.writeable = False  # as process_video hands them over
    mask = box_mask_of(BOX)
    report = RestoreVideoReport(mosaiced, mosaiced)
    tracker = RegionTracker(hold=0, lead=0, smooth=2, smoothing="median", shape="mask")
    processor = RestoreProcessor(restorer, report, mask=mask, tracker=tracker, batch=4)
    out = []
    for k in range(0, N, 3):
        out += processor.push(frames[k:k + 3], list(range(k, min(k + 3, N))))
    out += processor.flush()
    assert len(out) == N
    for frame, got in zip(frames, out, strict=True):
        np.testing.assert_array_equal(got, restorer.restore(frame, mask).image)



@pytest.mark.parametrize("given_mask,detect_every", [(True, 1), (False, 4)])
def test_restore_processor_finds_grids_only_when_it_detects(mosaiced, tiny_model, monkeypatch,
                                                          given_mask, detect_every, no_detections):
    """Prefill grids come from the frames where mosaics are searched anyway (or, for a
    given mask, from the first frame): no find-mosaic pass per frame on top."""
    import mosaicgan.models.restorer as restore_module
    from mosaicgan.video import processors as video_jobs
    from mosaicgan.video.processors import RestoreProcessor, RestoreVideoReport

    calls = []
    real, real_grids = restore_module.find_mosaics, restore_module.grids_of
    real_regions = MosaicFollower.regions

    def counting(frame):
        calls.append(1)
        return real(frame)

    def counting_grids(frame):
        calls.append(1)
        return real_grids(frame)

    def counting_regions(self, frame):
        calls.append(1)
        return real_regions(self, frame)

    monkeypatch.setattr(restore_module, "find_mosaics", counting)
    monkeypatch.setattr(restore_module, "grids_of", counting_grids)
    monkeypatch.setattr(video_jobs, "grids_of", counting_grids)
    monkeypatch.setattr(MosaicFollower, "regions", counting_regions)
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    assert restorer.cfg.prefill == "bicubic"
    frames = list(frames_of(mosaiced))
    processor = RestoreProcessor(restorer, RestoreVideoReport(mosaiced, mosaiced),
                                 mask=box_mask_of(BOX) if given_mask else None,
                                 detect_every=detect_every, batch=4)
    out = processor.push(frames, list(range(N))) + processor.flush()
    assert len(out) == N
    assert len(calls) == (1 if given_mask else -(-N // detect_every))
    assert processor.grids == {}  # nothing kept for frames already written


def test_restore_video_refused_regions_stay_mosaiced(mosaiced, tiny_model, tmp_path, inject):
    inject(FakeDetector([Detection("FACE_FEMALE", 0.9, (0, 0, 320, 320))]))
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    out = tmp_path / "refused.mp4"
    lines = []
    report = restore_video(mosaiced, out, restorer, mask=box_mask_of(BOX), options=QUIET,
                           log=lines.append)
    # The first pass stopped at the refusal; the video was written with the track withheld.
    assert report.regions_restored == 0 and not report.synthesized
    (entry,) = report.withheld.values()
    assert entry["frames"] == [0, N - 1] and entry["count"] == N
    assert sum("refused 1 track" in line for line in lines) == 1
    assert sum(f"face detected in {N} of its {N} frames" in line for line in lines) == 1
    assert (f"; 0 region-frame(s) restored, 1 refused track(s) kept as the input had them "
            f"({N} region-frame(s))") in report.summary()
    assert np.abs(frames_of(out).astype(int) - frames_of(mosaiced)).mean() < TOL_MEAN


def test_restore_video_finds_mosaics(mosaiced, tiny_model, tmp_path, no_detections):
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    out = tmp_path / "found.mkv"
    report = restore_video(mosaiced, out, restorer, options=QUIET, log=lambda _: None)
    assert report.frames_written == N
    assert report.regions_restored >= N // 2
    assert f"; {report.regions_restored} region-frame(s) restored;" in report.summary()
    far = box_mask_of(BOX, grow=BLOCK + 4)  # found masks may overrun the box by a cell
    mean, _ = outside_diff(frames_of(mosaiced), frames_of(out), far)
    assert mean < TOL_MEAN


# --- translate ----------------------------------------------------------------------------

def _identity_translator():
    import torch

    from mosaicgan.models.translator import Translator

    return Translator(torch.nn.Identity(), 1, torch.device("cpu"))


def test_translate_video(clip, tmp_path, no_detections):
    out = tmp_path / "t.mp4"
    report = translate_video(clip, out, _identity_translator(), options=QUIET)
    assert report.frames_written == N
    assert np.abs(frames_of(out).astype(int) - frames_of(clip)).mean() < TOL_MEAN
    with av.open(str(out)) as c:
        assert '"operation": "translate"' in c.metadata.get("comment", "")


def test_translate_video_refused_frame_refuses_the_video(clip, tmp_path, inject):
    inject(FakeDetector([Detection("FEMALE_BREAST_EXPOSED", 0.9, (0, 0, 10, 10))]))
    with pytest.raises(OutputRefused) as err:
        translate_video(clip, tmp_path / "t.mp4", _identity_translator(), options=QUIET)
    assert err.value.frame == 0 and "clip.mp4" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_generator_calls_are_bounded():
    from mosaicgan.models.restorer import chunks as _chunks

    assert _chunks([4] * 7, 3, 100) == [[0, 1, 2], [3, 4, 5], [6]]
    assert _chunks([50, 60, 10, 200, 5], 8, 100) == [[0], [1, 2], [3], [4]]
    assert _chunks([], 3, 10) == []


# --- the safety gate decides per track ----------------------------------------------------

def write_frames(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.height, v.width = frames[0].shape[:2]
        v.pix_fmt = "yuv444p"
        v.options = {"crf": "10", "preset": "ultrafast"}
        for f in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
    return path


def test_a_face_missed_in_some_frames_stays_mosaiced_in_all(tmp_path, inject):
    """A perfect restorer and a detector that misses the face in 2 of 10 frames: per
    frame, those 2 frames would show the face; per track, none does."""
    import torch

    from mosaicgan.nets.pix2pix import Pix2PixConfig

    from .conftest import MarkerDetector
    from .test_safety import marked

    n, face, tag = 10, (40, 40, 48, 48), (8, 60, 8, 8)  # tag: the frame number, in context
    clean = []
    for k in range(n):
        frame = pattern(0, 128, 128)
        frame[tag[1]:tag[1] + tag[3], tag[0]:tag[0] + tag[2]] = 20 * k + 20
        # What the detector recognises as a face; frames 3 and 7 it misses.
        clean.append(frame if k in (3, 7) else marked(frame, (56, 56, 16, 16)))
    mask = box_mask_of(face, width=128, height=128)
    src = write_frames(tmp_path / "mosaiced.mp4",
                       [mosaic_in(f, mask, 8, (face[0], face[1])) for f in clean])

    class Oracle(Restorer):
        """Returns the clean frame that the crop's tag says it comes from."""

        def _generated(self, plans, batch):
            out = []
            for p in plans:
                wx, wy, _ = p.window
                x, y = tag[0] - wx, tag[1] - wy
                k = round(float(p.crop[y + 2:y + 6, x + 2:x + 6].mean()) / 20) - 1
                out.append(crop_padded_from(clean[k], p.window))
            return out

    inject(MarkerDetector("FACE", 0.9))
    restorer = Oracle(torch.nn.Identity(), Pix2PixConfig(size=64), torch.device("cpu"),
                      match_cells=False)
    lines = []
    report = restore_video(src, tmp_path / "out.mp4", restorer, mask=mask, options=QUIET,
                           log=lines.append)
    (entry,) = report.withheld.values()
    assert entry["count"] == n and report.regions_restored == 0
    assert any(f"detected in {n - 2} of its {n} frames" in line for line in lines)
    out, before = frames_of(tmp_path / "out.mp4"), frames_of(src)
    assert np.abs(out[:, mask].astype(int) - before[:, mask]).mean() < TOL_MEAN


def crop_padded_from(image: np.ndarray, window) -> np.ndarray:
    from mosaicgan.models.restorer import crop_padded

    return crop_padded(image, *window)
