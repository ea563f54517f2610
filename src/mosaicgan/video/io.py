"""Streaming video I/O with PyAV: decode -> batch -> process -> encode, in bounded memory.

This is the only module that imports ``av``. Frames never touch the disk: they are
decoded, handed to a *processor* in batches of ``(H, W, 3)`` uint8 RGB arrays (in display
orientation), and the processed frames are encoded as they come back. Decoding, the
processor and encoding run on three threads (:mod:`mosaicgan.video.pipeline`), so they
overlap; the processor is always called from the calling thread. What is kept:

- **Timestamps**: each output frame gets its input frame's pts (minus the start offset
  when ``start`` is given), in the input stream's time base, so variable frame rate
  survives. The decoder is flushed at the end of the stream (its last frames arrive with
  packets that carry no timestamp).
- **Audio and subtitles**: copied packet for packet, never re-encoded. A subtitle codec
  the output container cannot hold is dropped with one log line; an audio codec it
  cannot hold is an error (choose another container). A video without audio is fine.
- **Rotation**: frames are rotated to display orientation for the processor and back
  for the encoder; the output stream gets the input's display rotation.
- **Colour**: range, matrix, primaries and transfer are copied to the encoder, and RGB
  <-> YUV uses the input's matrix and range both ways. Pixels the processor leaves
  unchanged keep their decoded YUV samples exactly (for 8-bit planar YUV), so outside
  the processed regions the only loss is the encoder's.

Bad input (not a video, truncated, corrupt) raises :class:`InputError` naming the file,
and the output is written to a temporary file renamed only on success.

A long video can also be made in chunks (:mod:`mosaicgan.video.chunks`): ``process_video``
with a :class:`Chunk` processes part of the range and writes only its own frames, video
only; :func:`join_video` copies the chunks' packets and the input's audio into the output.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import Cancelled, InputError
from ..imageio import atomic_path
from ..options import DEFAULT_VIDEO, Log, VideoOptions
from .pipeline import Sink, Source, Stop, stop_all

# suffix -> FFmpeg muxer name (the temporary output file's name says nothing about it)
MUXERS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
    ".avi": "avi", ".mpg": "mpeg", ".mpeg": "mpeg", ".ts": "mpegts", ".m2ts": "mpegts",
    ".mts": "mpegts", ".3gp": "3gp", ".flv": "flv", ".wmv": "asf", ".ogv": "ogg",
}
VIDEO_SUFFIXES = frozenset(MUXERS)
DEFAULT_CODEC = "libx264"
DEFAULT_CODECS = {"webm": "libvpx-vp9", "ogg": "libtheora"}  # muxers that cannot hold H.264
# Muxers without codec tables: FFmpeg cannot tell what they accept, so we just try.
_UNTABLED = frozenset({"mpegts", "mpeg"})
# 8-bit planar YUV layouts whose samples can be spliced (j = full range, same layout).
_PLANAR_8BIT = frozenset({"yuv420p", "yuv422p", "yuv444p", "yuv440p", "yuv411p", "yuv410p"})
TRUNCATION_TOLERANCE = 0.05  # a video ending >5 % (and >0.5 s) early is truncated


def is_video(path: str | Path) -> bool:
    """True when the path's suffix is one of :data:`VIDEO_SUFFIXES` (the file is not read)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


# --- what is in a file --------------------------------------------------------------------

@dataclass(frozen=True)
class VideoInfo:
    """A video file's first video stream, as the processor will see it.

    width, height: display size (after rotation). coded_width/coded_height: as stored.
    rotation: counter-clockwise degrees (0, 90, 180 or 270) from the display matrix.
    frames: the container's frame count, else duration x fps (an estimate either way).
    color_*: FFmpeg's enum values (AVColorRange, AVColorSpace, AVColorPrimaries,
    AVColorTransferCharacteristic); 2 = unspecified for the last three, 0 for range.
    """

    path: Path
    width: int
    height: int
    coded_width: int
    coded_height: int
    fps: float
    frames: int
    duration: float | None
    rotation: int
    codec: str
    pix_fmt: str
    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    has_audio: bool
    audio_codecs: tuple[str, ...]
    subtitle_codecs: tuple[str, ...]
    container: str
    time_base: Fraction
    start_time: float

    def describe(self) -> str:
        """One line for logs: ``1280x720 h264 yuv420p 29.97 fps 10.0 s (300 frames), audio aac``."""
        dur = f"{self.duration:.1f} s" if self.duration is not None else "unknown length"
        rot = f", rotated {self.rotation}°" if self.rotation else ""
        audio = f", audio {'+'.join(self.audio_codecs)}" if self.has_audio else ", no audio"
        return (f"{self.width}x{self.height} {self.codec} {self.pix_fmt} {self.fps:.3g} fps "
                f"{dur} (~{self.frames} frames){rot}{audio}")


def _open_input(path: Path):
    """``av.open`` for reading, with failures as one-line InputErrors naming the file."""
    import av

    if path.is_dir():
        raise InputError(path, "is a folder, not a video")
    if not path.exists():
        raise InputError(path, "no such file")
    try:
        container = av.open(str(path), "r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"not a readable video (corrupt, truncated or not a video: "
                               f"{_why(exc)})") from None
    if not container.streams.video:
        container.close()
        raise InputError(path, "has no video stream")
    return container


def _why(exc: BaseException) -> str:
    """The useful part of a PyAV error: its strerror without the file name repeated."""
    return getattr(exc, "strerror", None) or str(exc).split(": '")[0]


def _rotation(degrees: float | int | None) -> int:
    """Display rotation rounded to a quarter turn, in [0, 360)."""
    return round((degrees or 0) / 90) % 4 * 90


def probe(path: str | Path) -> VideoInfo:
    """Read a video's header and first frame; raise InputError if it is not a playable video."""
    path = Path(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise InputError(path, f"corrupt video: cannot decode its first frame "
                                   f"({_why(exc)})") from None
        if first is None:
            raise InputError(path, "no decodable video frames (corrupt or truncated)")
        tb = stream.time_base or Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 25.0
        duration = _stream_duration(stream, container)
        frames = stream.frames or (round(duration * fps) if duration else 0)
        rotation = _rotation(first.rotation)
        coded_w, coded_h = first.width, first.height
        width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
        audio = tuple(_codec_name(s) for s in container.streams.audio)
        subs = tuple(_codec_name(s) for s in container.streams.subtitles)
        start = stream.start_time * tb if stream.start_time is not None else 0
        return VideoInfo(
            path=path, width=width, height=height, coded_width=coded_w, coded_height=coded_h,
            fps=fps, frames=int(frames), duration=duration, rotation=rotation,
            codec=stream.codec_context.name, pix_fmt=first.format.name,
            color_range=int(first.color_range), colorspace=int(first.colorspace),
            color_primaries=int(first.color_primaries), color_trc=int(first.color_trc),
            has_audio=bool(audio), audio_codecs=audio, subtitle_codecs=subs,
            container=container.format.name, time_base=tb, start_time=float(start))


def _stream_duration(stream, container) -> float | None:
    """Seconds: the stream's own duration, else its DURATION tag (Matroska), else the file's
    (``container`` None: no fallback to the file's, which may be the audio's)."""
    if stream.duration:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION")
    if tag:
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if container is not None and container.duration:
        return container.duration / 1_000_000
    return None


def _is_av_error(exc: BaseException) -> bool:
    import av

    return isinstance(exc, av.FFmpegError)


# --- the processor contract ---------------------------------------------------------------

class FrameProcessor(Protocol):
    """What :func:`process_video` drives.

    ``push`` gets a batch of frames, each ``(H, W, 3)`` uint8 RGB in display orientation
    (read-only: never modify them in place), with their indices (0 = the first frame
    processed). It returns processed frames in order, as many as are ready: it may hold
    frames back for lookahead and return fewer (even none). ``flush`` returns all frames
    still held. Over a whole run, exactly one output per input, same shape, same order.
    Returning an input array itself means "unchanged": the decoded frame is re-encoded
    without any colour conversion.
    """

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]: ...

    def flush(self) -> list[np.ndarray]: ...


class PerFrame:
    """A processor applying ``fn(frame, index) -> frame`` to each frame, no lookahead."""

    def __init__(self, fn: Callable[[np.ndarray, int], np.ndarray]):
        self.fn = fn

    def push(self, frames: list[np.ndarray], indices: list[int]) -> list[np.ndarray]:
        return [self.fn(f, i) for f, i in zip(frames, indices, strict=True)]

    def flush(self) -> list[np.ndarray]:
        return []


@dataclass
class VideoReport:
    """What :func:`process_video` did. ``seconds`` is wall time; ``fps`` frames written/s."""

    src: Path
    dst: Path
    frames_read: int = 0
    frames_written: int = 0
    seconds: float = 0.0
    codec: str = ""
    audio_packets: int = 0
    notes: list[str] = field(default_factory=list)
    # Where the time went, per thread (they run side by side, so the three may add up to
    # more than ``seconds``): the decoder's ("decoding": demuxing, decoding, conversion to
    # RGB), the processor's ("processing": finding, hiding, restoring the frames) and the
    # encoder's ("encoding": back to YUV, x264, muxing, copying the other streams).
    processing_seconds: float = 0.0
    encoding_seconds: float = 0.0
    decoding_seconds: float = 0.0

    @property
    def fps(self) -> float:
        return self.frames_written / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        return (f"{self.src} -> {self.dst}: {self.frames_written} frames in "
                f"{self.seconds:.1f} s ({self.fps:.1f} frames/s; side by side: processing "
                f"{self.processing_seconds:.1f} s, encoding {self.encoding_seconds:.1f} s, "
                f"decoding {self.decoding_seconds:.1f} s)")


# --- colour -------------------------------------------------------------------------------

def _sws_colorspace(colorspace: int, height: int):
    """swscale's matrix for an AVColorSpace; unspecified = BT.709 for HD, BT.601 below,
    as players guess."""
    from av.video.reformatter import Colorspace

    table = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601,
             6: Colorspace.ITU601, 7: Colorspace.SMPTE240M, 9: Colorspace.BT2020,
             10: Colorspace.BT2020}
    if colorspace in table:
        return table[colorspace]
    return Colorspace.ITU709 if height > 576 else Colorspace.ITU601


def _plain_format(name: str) -> tuple[str, bool]:
    """(format without the deprecated 'j', full range?): yuvj420p -> (yuv420p, True)."""
    if name.startswith("yuvj"):
        return "yuv" + name[4:], True
    return name, False


@dataclass
class _Colour:
    """How frames are converted: the input's matrix and range, used both ways."""

    matrix: Any  # swscale Colorspace
    full_range: bool
    out_format: str
    splice: bool  # untouched pixels keep their decoded samples

    def to_rgb(self, frame) -> np.ndarray:
        """A decoded frame -> ``(H, W, 3)`` uint8 RGB in coded orientation."""
        from av.video.reformatter import ColorRange, Interpolation

        # Accurate rounding, full-resolution bicubic chroma: measured closest to the RGB
        # that was encoded, and RGB -> YUV -> RGB then returns within 0.05 on average.
        flags = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
        return frame.to_ndarray(format="rgb24", src_colorspace=self.matrix,
                                src_color_range=ColorRange.JPEG if self.full_range
                                else ColorRange.MPEG, interpolation=flags)

    def to_yuv(self, rgb: np.ndarray, original, changed: np.ndarray | None):
        """``(H, W, 3)`` RGB (coded orientation) -> a frame in the output format.

        changed: ``(H, W)`` bool, the pixels that differ from ``original``'s; elsewhere
        the original frame's samples are copied, so they are exactly as decoded.
        """
        import av
        from av.video.reformatter import ColorRange, Interpolation

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(format=self.out_format, dst_colorspace=self.matrix,
                               dst_color_range=ColorRange.JPEG if self.full_range
                               else ColorRange.MPEG,
                               interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND)
        if changed is not None and self.splice:
            _splice(frame, original, changed)
        return frame


def _plane(frame, i: int) -> np.ndarray:
    """A writable ``(h, w)`` uint8 view of plane ``i`` (line padding cut off)."""
    plane = frame.planes[i]
    return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]


def _splice(frame, original, changed: np.ndarray) -> None:
    """Copy ``original``'s samples into ``frame`` wherever ``changed`` (coded H, W) is False.

    A chroma sample is copied when none of the pixels it covers changed.
    """
    for i in range(len(frame.planes)):
        dst, src = _plane(frame, i), _plane(original, i)
        h, w = dst.shape
        sy, sx = -(-changed.shape[0] // h), -(-changed.shape[1] // w)
        c = changed
        if (sy, sx) != (1, 1):
            pad = ((0, h * sy - c.shape[0]), (0, w * sx - c.shape[1]))
            c = np.pad(c, pad, mode="edge").reshape(h, sy, w, sx).any(axis=(1, 3))
        np.copyto(dst, src, where=~c)


# --- decode -> process -> encode ------------------------------------------------------------

@dataclass
class _Pending:
    """A frame handed to the processor, waiting for its output."""

    frame: Any  # the decoded av.VideoFrame
    shown: np.ndarray  # what the processor got (display orientation, read-only)
    pts: int  # output pts, in the input stream's time base
    duration: int
    index: int  # the frame's number, from 0
    keep: bool = True  # written (False: a chunk's overlap, processed for its context only)


def _seconds(value: float | None, name: str) -> Fraction | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0, got {value}")
    return Fraction(str(value))


def process_video(src: str | Path, dst: str | Path, processor: FrameProcessor,
                  options: VideoOptions = DEFAULT_VIDEO, *,
                  encoder_options: dict[str, str] | None = None,
                  metadata: dict[str, str] | None = None, log: Log = print,
                  report: VideoReport | None = None, chunk: Chunk | None = None
                  ) -> VideoReport:
    """Decode ``src``, run ``processor`` on its frames in batches, encode to ``dst``.

    Memory is bounded whatever the length: only ``options.batch`` frames, what the
    processor holds back, and the encoder's lookahead are in memory at once.

    Args:
        src, dst: video files; dst's suffix picks the container (:data:`MUXERS`).
        processor: a :class:`FrameProcessor`.
        options: codec, crf, preset, start, duration (seconds: process only
            [start, start + duration) of the video, relative to its first frame;
            timestamps then start at 0), batch (frames per ``processor.push``), progress.
        encoder_options: more FFmpeg encoder options, passed through as given.
        metadata: container tags to add (e.g. ``{"comment": ...}``).
        log: receives one line per note (dropped subtitles, ...).
        report: a VideoReport (or subclass) to fill in; default a new one.
        chunk: process only this part of the range (its overlap with the neighbouring
            chunks for context) and write only its own frames, video only, timestamps as
            in the whole output: one chunk of :mod:`mosaicgan.video.chunks`.

    Returns:
        The :class:`VideoReport`.

    Raises:
        InputError: src is not a readable video (truncated, corrupt, no video stream), an
            output path equal to src, an unknown output suffix, or a codec the output
            container cannot hold. No output file is left behind.
    """
    src, dst = Path(src), Path(dst)
    t_start = _seconds(options.start, "start")
    t_len = _seconds(options.duration, "duration")
    muxer = CHUNK_MUXER if chunk is not None else _muxer(dst)
    if dst.resolve() == src.resolve() or (dst.exists() and src.exists() and dst.samefile(src)):
        raise InputError(src, "output path equals the input path; choose another output")
    info = probe(src)
    codec = chunk.codec if chunk is not None and chunk.codec else \
        options.codec or DEFAULT_CODECS.get(muxer, DEFAULT_CODEC)
    if report is None:
        report = VideoReport(src, dst)
    report.src, report.dst, report.codec = src, dst, codec
    t0 = time.perf_counter()
    with atomic_path(dst) as tmp:
        _run(info, tmp, muxer, processor, report, options, codec, encoder_options or {},
             t_start, t_len, metadata or {}, log, chunk)
    report.seconds = time.perf_counter() - t0
    return report


def _muxer(dst: Path) -> str:
    """The FFmpeg muxer for an output's suffix; an InputError for an unknown one."""
    muxer = MUXERS.get(dst.suffix.lower())
    if muxer is None:
        raise InputError(dst, f"unknown video suffix {dst.suffix!r}; use one of "
                              f"{', '.join(sorted(VIDEO_SUFFIXES))}")
    return muxer


def _seek_before(container, vin, span: _Range, info: VideoInfo) -> bool:
    """Seek a second before the range's start, so the audio packets interleaved before
    its keyframe are kept; False when the file cannot seek (it is read from the start)."""
    import av

    if span.lo is None or span.lo <= span.base:
        return True
    try:
        container.seek(int(max(span.lo - 1, span.base) / info.time_base), stream=vin,
                       backward=True)
    except av.FFmpegError:
        return False
    return True


def _add_video_stream(output, info: VideoInfo, in_stream, codec: str, crf: int, preset: str,
                      options: dict[str, str], dst: Path):
    """The encoder's stream: the input's size (coded), time base, rate, colour, rotation."""
    import av

    try:
        encoder = av.codec.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise InputError(None, f"unknown video encoder {codec!r} (try libx264, libx265, "
                               "libvpx-vp9)") from None
    if encoder.type != "video":
        raise InputError(None, f"{codec!r} is not a video encoder")
    if not _fits(output, encoder.name):
        raise InputError(dst, f"a {dst.suffix} file cannot hold {encoder.name} video; choose "
                              "another codec or output suffix")
    rate = in_stream.average_rate or in_stream.guessed_rate or Fraction(25)
    stream = output.add_stream(codec, rate=rate)
    fmt, full = _plain_format(info.pix_fmt)
    supported = [f.name for f in (encoder.video_formats or [])]
    pix_fmt = fmt if not supported or fmt in supported else "yuv420p"
    if (info.coded_width % 2 or info.coded_height % 2) and pix_fmt in ("yuv420p", "yuv422p") \
            and "yuv444p" in supported:
        pix_fmt = "yuv444p"  # subsampled chroma needs even sizes (x264 refuses odd ones)
    stream.pix_fmt = pix_fmt
    stream.width, stream.height = info.coded_width, info.coded_height
    cc = stream.codec_context
    cc.time_base = info.time_base
    stream.time_base = info.time_base
    cc.color_range = 2 if full else info.color_range
    cc.colorspace = info.colorspace
    cc.color_primaries = info.color_primaries
    cc.color_trc = info.color_trc
    if in_stream.sample_aspect_ratio:
        cc.sample_aspect_ratio = in_stream.sample_aspect_ratio
    opts = {}
    if codec in ("libx264", "libx265", "libx264rgb"):
        opts.update(crf=str(crf), preset=preset)
    elif codec in ("libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1"):
        opts.update(crf=str(crf))
        if codec.startswith("libvpx"):
            opts["b"] = "0"  # constant quality
    opts.update(options)
    stream.options = opts
    if info.rotation:
        stream.set_display_rotation(info.rotation)
    return stream, full


# Tags that describe the old encoding, not the stream: not carried over.
_STALE_TAGS = frozenset({"duration", "encoder", "bps", "number_of_frames", "number_of_bytes",
                         "_statistics_writing_app", "_statistics_writing_date_utc",
                         "_statistics_tags"})


def _copy_container_tags(container, output, metadata: dict[str, str]) -> None:
    """The input file's tags (not those of its old encoding), then ``metadata``."""
    output.metadata.update({k: v for k, v in container.metadata.items()
                            if k.lower() not in ("encoder", "major_brand", "minor_version",
                                                 "compatible_brands")})
    output.metadata.update(metadata)


def _copy_tags(src_stream, dst_stream) -> None:
    """A stream's language, title, handler name... (PyAV cannot set dispositions)."""
    dst_stream.metadata.update({k: v for k, v in (src_stream.metadata or {}).items()
                                if k.lower() not in _STALE_TAGS})


def _codec_name(stream) -> str:
    context = getattr(stream, "codec_context", None)
    return getattr(context, "name", None) or str(getattr(stream, "codec_name", "unknown"))


_SUPPORTED: dict[str, set[str]] = {}


def _fits(output, codec: str) -> bool:
    """Whether the output container can hold ``codec`` (an encoder or codec name)."""
    name = output.format.name
    if name in _UNTABLED:
        return True
    if name not in _SUPPORTED:  # FFmpeg asks every codec: slow, so once per muxer
        _SUPPORTED[name] = set(output.supported_codecs)
    return codec in _SUPPORTED[name]


def _copy_streams(container, output, dst: Path, log: Log, report: VideoReport) -> dict:
    """Output streams for the input's audio and subtitle streams: {input index: stream}."""
    copies = {}
    for stream in container.streams:
        if stream.type not in ("audio", "subtitle"):
            if stream.type != "video" or stream is not container.streams.video[0]:
                note = f"{stream.type} stream #{stream.index} dropped (only audio and " \
                       "subtitles are copied)"
                report.notes.append(note)
                log(note)
            continue
        name = _codec_name(stream)
        fits = _fits(output, name)
        if not fits and stream.type == "subtitle":
            note = f"subtitle stream #{stream.index} ({name}) dropped: a " \
                   f"{dst.suffix} file cannot hold it"
            report.notes.append(note)
            log(note)
            continue
        if not fits:
            raise InputError(dst, f"a {dst.suffix} file cannot hold the {name} audio of the "
                                  "input, and audio is never re-encoded; choose a .mkv output")
        # (PyAV resets the codec tag, so the muxer picks one valid in its container.)
        copies[stream.index] = output.add_stream_from_template(stream)
        _copy_tags(stream, copies[stream.index])
    return copies


@dataclass(frozen=True)
class Chunk:
    """One chunk of a video processed on its own (:mod:`mosaicgan.video.chunks`): the
    frames from ``lo`` to ``hi`` go through the processor, those from ``keep_lo`` to
    ``keep_hi`` are written (the rest is overlap with the neighbouring chunks, there so
    trackers see the same frames as in one pass). Times are the stream's own (Fractions
    of a second); ``None``: the range's end. ``first_index``: the number of the frame at
    ``lo`` in the whole range; ``shared``: the frame numbers it shares with its neighbours
    (``[start, end)`` each), where tracks are matched from one chunk to the next."""

    index: int
    lo: Fraction
    hi: Fraction | None
    keep_lo: Fraction
    keep_hi: Fraction | None
    first_index: int
    frames: tuple[int, int]  # the numbers of the frames it writes, [start, end)
    shared: tuple[tuple[int, int], ...] = ()
    codec: str = ""  # the whole output's encoder (a chunk's own file is an .mp4)


# Encoders whose streams an .mp4 chunk holds and any output container takes back as they
# are (others, e.g. Theora for .ogv: the video runs in one pass).
CHUNK_CODECS = frozenset({"libx264", "libx264rgb", "libx265", "libvpx-vp9", "libaom-av1",
                          "libsvtav1", "mpeg4"})


def output_codec(dst: str | Path, options: VideoOptions) -> str | None:
    """The encoder a video written to ``dst`` gets (None: an unknown suffix)."""
    muxer = MUXERS.get(Path(dst).suffix.lower())
    return None if muxer is None else options.codec or DEFAULT_CODECS.get(muxer, DEFAULT_CODEC)


def chunkable(dst: str | Path, options: VideoOptions) -> bool:
    """Whether the video written to ``dst`` with ``options`` can be made in chunks."""
    return output_codec(dst, options) in CHUNK_CODECS


CHUNK_MUXER = "mp4"  # keeps the time base, pts and dts exactly (NUT and Matroska lose dts)


@dataclass
class _Range:
    """The part of the video to process, in seconds from the stream's start (Fractions)."""

    base: Fraction  # the video's first timestamp
    lo: Fraction | None  # first time processed
    hi: Fraction | None  # first time dropped
    start: Fraction | None = None  # the whole range's start (a chunk's lo is later)
    keep_lo: Fraction | None = None  # a chunk's frames written: from keep_lo...
    keep_hi: Fraction | None = None  # ...to keep_hi
    first_index: int = 0  # the number of the first frame processed

    @property
    def shift(self) -> Fraction:
        """Subtracted from every timestamp, so the output starts at 0."""
        return Fraction(0) if self.start is None else self.start

    def kept(self, t: Fraction) -> bool:
        """Whether a frame at ``t`` is written (not a chunk's overlap)."""
        return (self.keep_lo is None or t >= self.keep_lo) and (
            self.keep_hi is None or t < self.keep_hi)


def _span(info: VideoInfo, t_start: Fraction | None, t_len: Fraction | None) -> _Range:
    """The range to process, from the options' start and duration (seconds)."""
    base = Fraction(info.start_time).limit_denominator(1 << 30)
    lo = None if t_start is None else base + t_start
    hi = None if t_len is None else (lo if lo is not None else base) + t_len
    return _Range(base, lo, hi, lo)


def _run(info: VideoInfo, tmp: Path, muxer: str, processor: FrameProcessor,
         report: VideoReport, options: VideoOptions, codec: str,
         encoder_options: dict[str, str], t_start: Fraction | None, t_len: Fraction | None,
         metadata: dict[str, str], log: Log, chunk: Chunk | None = None) -> None:
    import av

    src, dst = info.path, report.dst
    with _open_input(src) as container, av.open(str(tmp), "w", format=muxer) as output:
        vin = container.streams.video[0]
        vin.thread_type = "AUTO"
        span = _span(info, t_start, t_len)
        if chunk is not None:
            span = _Range(span.base, chunk.lo, chunk.hi if chunk.hi is not None else span.hi,
                          span.start, chunk.keep_lo, chunk.keep_hi, chunk.first_index)
        base, lo = span.base, span.lo
        _copy_container_tags(container, output, metadata)
        vout, full = _add_video_stream(output, info, vin, codec, options.crf, options.preset,
                                       encoder_options, dst)
        _copy_tags(vin, vout)
        # A chunk is video only: the join copies the audio once, from the input.
        copies = {} if chunk is not None else _copy_streams(container, output, dst, log,
                                                            report)
        fmt, _ = _plain_format(info.pix_fmt)
        colour = _Colour(_sws_colorspace(info.colorspace, info.coded_height),
                         full or info.color_range == 2, vout.pix_fmt,
                         splice=fmt == vout.pix_fmt and fmt in _PLANAR_8BIT)
        if not _seek_before(container, vin, span, info):
            log(f"{src}: cannot seek; decoding from the start to {float(lo - base):.2f} s")
        bar = None
        if options.progress:
            from tqdm import tqdm
            # disable=None: on a terminal only (not into a log file, nor from a --cluster
            # worker, whose output Ray forwards line by line)
            bar = tqdm(total=_expected_frames(info, span) or None, unit="frame", desc=src.name,
                       dynamic_ncols=True, disable=None)
        try:
            _Transcode(info, output, vout, copies, colour, processor, report, span,
                       options.batch, codec, bar, options.cancel).run(container, vin)
        finally:
            if bar is not None:
                bar.close()


def _expected_frames(info: VideoInfo, span: _Range) -> int:
    """How many frames the range holds, at the nominal rate (for the progress bar)."""
    if span.hi is None and span.lo is None:
        return info.frames
    end = span.hi if span.hi is not None else span.base + Fraction(info.duration or 0)
    return max(0, round(float(end - (span.lo if span.lo is not None else span.base))
                        * info.fps))


class _Transcode:
    """One pass over the input: frames through the processor into the encoder, audio and
    subtitle packets copied, in the order the demuxer gives them."""

    def __init__(self, info: VideoInfo, output, vout, copies: dict, colour: _Colour,
                 processor: FrameProcessor, report: VideoReport, span: _Range, batch: int,
                 codec: str, bar, cancel: Any = None) -> None:
        self.info, self.output, self.vout, self.copies = info, output, vout, copies
        self.colour, self.processor, self.report, self.span = colour, processor, report, span
        self.batch, self.codec, self.bar = batch, codec, bar
        self.cancel = cancel  # a threading.Event: checked before each batch
        self.fmt, _ = _plain_format(info.pix_fmt)
        self.k = info.rotation // 90
        self.pending: deque[_Pending] = deque()
        self.frames: list[np.ndarray] = []
        self.indices: list[int] = []
        self.last_pts: int | None = None
        self.last_time: Fraction | None = None
        self.audio_open = {i for i, s in copies.items() if s.type == "audio"}

    def run(self, container, vin) -> None:
        """Decode (a thread), process (this thread) and encode (a thread) side by side."""
        stop = Stop()
        depth = 2 * self.batch  # frames decoded ahead, and batches waiting for the encoder
        reader = Source(lambda: self._read(container, vin), depth, stop, "decode")
        writer: Sink[Any] = Sink(self._consume, depth, stop, "encode")
        try:
            for item in reader:
                if isinstance(item, _Pending):
                    self._take(item, writer)
                else:
                    writer.put(item)  # an audio or subtitle packet to copy
            if self.frames:
                self._push(writer)
            with self._timed("processing_seconds"):
                out = self.processor.flush()
            self._hand(out, writer)
            writer.close()
        except BaseException:
            stop_all(stop, reader, writer)
            raise
        finally:
            self.report.decoding_seconds += reader.busy_seconds
            self.report.encoding_seconds += writer.busy_seconds
        if self.pending:
            raise RuntimeError(f"the processor returned {self.report.frames_written} frames "
                               f"for {self.report.frames_read}")
        if self.report.frames_read == 0:
            raise InputError(self.info.path, "no video frames in the requested range"
                             if self.span.lo is not None or self.span.hi is not None
                             else "no decodable video frames")
        with self._timed("encoding_seconds"):
            self._write(self.vout, None)  # the encoder's delayed frames
        _check_complete(self.info.path, _stream_duration(vin, None), self.span.hi,
                        self.last_time, self.span.base)

    def _read(self, container, vin) -> Iterator[Any]:
        """The demuxer's items in order (the decoding thread): decoded frames in range as
        :class:`_Pending`, and the packets of the streams copied."""
        span = self.span
        video_done = False
        try:
            for packet in container.demux(vin, *[container.streams[i] for i in self.copies]):
                if packet.stream.index == vin.index:
                    if video_done:
                        if not self.audio_open:
                            break
                        continue
                    # Always decode, even packets without dts: the last frames come out of
                    # the decoder's flush packet.
                    for frame in packet.decode():
                        place = self._place(frame)
                        if place > 0:
                            video_done = True
                            break
                        if place == 0:
                            yield self._pending(frame)
                # dts None: the demuxer's flush packet
                elif packet.dts is not None and self._copied(packet):
                    yield packet
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            at = "" if self.last_time is None else \
                f" at {float(self.last_time - span.base):.2f} s"
            raise InputError(self.info.path, f"corrupt or truncated video{at} ({_why(exc)})"
                             ) from None

    def _place(self, frame) -> int:
        """-1 before the range, 0 in it (and the time it ends noted), 1 past it."""
        tb, span = self.info.time_base, self.span
        if frame.pts is not None:
            t = frame.pts * tb
            if span.lo is not None and t < span.lo:
                return -1
            if span.hi is not None and t >= span.hi:
                return 1
        else:
            t = Fraction(0)
        self.last_time = t + (frame.duration or 0) * tb
        return 0

    def _cancelled(self) -> None:
        """Raise Cancelled once the caller asked the job to stop (before each batch)."""
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.info.path}: cancelled")

    def _pending(self, frame) -> _Pending:
        """A decoded frame in display orientation, with its output timing (decoding
        thread)."""
        info, tb = self.info, self.info.time_base
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:  # a stream without timestamps: count frames at the nominal rate
            pts = 0 if self.last_pts is None else \
                self.last_pts + max(1, round(1 / (info.fps * tb)))
        out_pts = pts - round(self.span.shift / tb)
        if self.last_pts is not None and out_pts <= self.last_pts:
            out_pts = self.last_pts + 1  # encoders need strictly increasing pts
        self.last_pts = out_pts
        rgb = self.colour.to_rgb(frame)
        shown = np.ascontiguousarray(np.rot90(rgb, self.k)) if self.k else rgb
        shown.flags.writeable = False
        index = self.span.first_index + self.report.frames_read
        self.report.frames_read += 1
        keep = self.span.kept(frame.pts * tb) if frame.pts is not None else True
        return _Pending(frame, shown, out_pts, frame.duration or 0, index, keep)

    def _take(self, item: _Pending, writer: Sink) -> None:
        """Queue a decoded frame for the processor; push a batch when one is full."""
        self.pending.append(item)
        self.frames.append(item.shown)
        self.indices.append(item.index)
        if len(self.frames) >= self.batch:
            self._push(writer)

    def _push(self, writer: Sink) -> None:
        self._cancelled()
        with self._timed("processing_seconds"):
            out = self.processor.push(list(self.frames), list(self.indices))
        self.frames.clear()
        self.indices.clear()
        self._hand(out, writer)

    def _hand(self, out_frames: list[np.ndarray], writer: Sink) -> None:
        """The processor's outputs to the encoder, each with its input frame (the oldest
        waiting)."""
        if len(out_frames) > len(self.pending):
            raise RuntimeError("the processor returned more frames than it was given")
        if out_frames:
            writer.put([(self.pending.popleft(), out) for out in out_frames])

    def _consume(self, item: Any) -> None:
        """The encoding thread: a batch of (input, output) frames, or a packet to copy."""
        if isinstance(item, list):
            self._encode_frames(item)
        else:
            self._mux_copy(item)

    @contextmanager
    def _timed(self, counter: str) -> Iterator[None]:
        """The block's time added to the report's ``counter`` (a ``*_seconds`` field)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            setattr(self.report, counter, getattr(self.report, counter)
                    + time.perf_counter() - t0)

    def _encode_frames(self, pairs: list[tuple[_Pending, np.ndarray]]) -> None:
        import av

        vout, info, colour, k = self.vout, self.info, self.colour, self.k
        for p, out in pairs:
            if not isinstance(out, np.ndarray) or out.shape != p.shown.shape \
                    or out.dtype != np.uint8:
                got = getattr(out, "shape", type(out).__name__)
                raise ValueError(f"the processor returned {got} for a frame of "
                                 f"{p.shown.shape} uint8")
            if not p.keep:
                continue  # a chunk's overlap: its neighbour writes it
            if out is p.shown and p.frame.format.name == vout.pix_fmt:
                vf = p.frame  # unchanged: the decoded samples, no conversion
            else:
                changed = None
                if colour.splice and p.frame.format.name.replace("yuvj", "yuv") == self.fmt:
                    ne = out != p.shown  # (3 ORs: 12x faster than any(axis=2))
                    changed = np.rot90(ne[..., 0] | ne[..., 1] | ne[..., 2], -k)
                vf = colour.to_yuv(np.rot90(out, -k), p.frame, changed)
            vf.pts, vf.time_base, vf.duration = p.pts, info.time_base, p.duration
            # The input's colour tags on every frame (a converted frame has swscale's), so
            # the encoder treats converted and passed-through frames alike.
            vf.color_range, vf.colorspace = vout.codec_context.color_range, info.colorspace
            vf.color_primaries, vf.color_trc = info.color_primaries, info.color_trc
            vf.pict_type = av.video.frame.PictureType.NONE  # let the encoder choose
            self._write(vout, vf)
            self.report.frames_written += 1
            if self.bar is not None:
                self.bar.update(1)

    def _write(self, stream, frame) -> None:
        """Encode a frame (None: flush) and mux what comes out; errors name the output."""
        import av

        try:
            for packet in stream.encode(frame):
                self.output.mux(packet)
        except av.FFmpegError as exc:
            raise InputError(self.report.dst, f"cannot encode or write the video with "
                                              f"{self.codec} ({_why(exc)})") from None

    def _copied(self, packet) -> bool:
        """Whether an audio or subtitle packet is in range (decoding thread)."""
        return _copied(packet, self.span, self.audio_open)

    def _mux_copy(self, packet) -> None:
        """Copy a packet into the output (encoding thread: the muxer's only user)."""
        import av

        stream = self.copies[packet.stream.index]
        packet.stream = stream
        try:
            self.output.mux(packet)
        except av.FFmpegError as exc:
            raise InputError(self.report.dst, f"cannot copy the {stream.type} stream into it "
                                              f"({_why(exc)})") from None
        if stream.type == "audio":
            self.report.audio_packets += 1


def _copied(packet, span: _Range, audio_open: set[int]) -> bool:
    """Whether an audio or subtitle packet is in ``span``; if so its timestamps are
    shifted. An audio stream past the range's end leaves ``audio_open``."""
    ptb = packet.time_base
    when = packet.pts if packet.pts is not None else packet.dts
    if when is not None:
        t = when * ptb
        if span.lo is not None and t < span.lo:
            return False
        if span.hi is not None and t >= span.hi:
            audio_open.discard(packet.stream.index)
            return False
    if span.start is not None:
        off = round(span.shift / ptb)
        if packet.pts is not None:
            packet.pts -= off
        if packet.dts is not None:
            packet.dts -= off
    return True


def _check_complete(path: Path, declared: float | None, hi, last_time, base) -> None:
    """InputError when the frames ended well before the video stream's declared duration
    (a cut-off file)."""
    if declared is None or last_time is None or hi is not None:
        return
    decoded = float(last_time - base)
    if declared - decoded > max(0.5, TRUNCATION_TOLERANCE * declared):
        raise InputError(path, f"truncated: its video ends at {decoded:.2f} s but the "
                               f"file says {declared:.2f} s")


# --- chunks: where they may start, and joining them ----------------------------------------

@dataclass(frozen=True)
class FrameTimes:
    """The frames of a video's range in display order, read off its packets (nothing is
    decoded): each frame's time (the stream's own, in seconds), which are keyframes, and
    the frame rate."""

    times: tuple[Fraction, ...]
    keyframes: frozenset[int]
    fps: float


def frame_times(src: str | Path, options: VideoOptions = DEFAULT_VIDEO) -> FrameTimes | None:
    """The frames :func:`process_video` would process with ``options`` (their range), by
    their packets' timestamps; None when a packet has none (frames cannot be placed)."""
    path = Path(src)
    info = probe(path)
    span = _span(info, _seconds(options.start, "start"), _seconds(options.duration, "duration"))
    stamps: list[int] = []
    keys: set[int] = set()
    with _open_input(path) as container:
        vin = container.streams.video[0]
        tb = info.time_base
        try:
            for packet in container.demux(vin):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                if packet.pts is None:
                    return None
                t = packet.pts * tb
                if (span.lo is not None and t < span.lo) or (span.hi is not None
                                                              and t >= span.hi):
                    continue  # (no break: packets come in decoding order, not display)
                stamps.append(packet.pts)
                if packet.is_keyframe:
                    keys.add(packet.pts)
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise InputError(path, f"corrupt or truncated video ({_why(exc)})") from None
    stamps.sort()
    return FrameTimes(tuple(p * tb for p in stamps),
                      frozenset(i for i, p in enumerate(stamps) if p in keys), info.fps)


def join_video(src: str | Path, dst: str | Path, parts: list[Path],
               options: VideoOptions = DEFAULT_VIDEO, *, metadata: dict[str, str] | None = None,
               log: Log = print, report: VideoReport | None = None) -> VideoReport:
    """Join the chunks of ``src`` that :func:`process_video` wrote (``chunk=``, in order)
    into ``dst``: their video packets copied as they are (nothing is encoded again), the
    input's audio and subtitles copied once, for the same range, with the same tags.
    Written atomically; ``report`` gets the audio packets and notes."""
    import av

    src, dst = Path(src), Path(dst)
    muxer = _muxer(dst)
    info = probe(src)
    span = _span(info, _seconds(options.start, "start"), _seconds(options.duration, "duration"))
    if report is None:
        report = VideoReport(src, dst)
    with atomic_path(dst) as tmp, _open_input(src) as container, \
            av.open(str(tmp), "w", format=muxer) as output:
        _copy_container_tags(container, output, metadata or {})
        with av.open(str(parts[0])) as first:
            template = first.streams.video[0]
            vout = output.add_stream_from_template(template)
            headers = bytes(template.codec_context.extradata or b"")
        vin = container.streams.video[0]
        _copy_tags(vin, vout)
        if info.rotation:
            vout.set_display_rotation(info.rotation)
        copies = _copy_streams(container, output, dst, log, report)
        audio_open = {i for i, s in copies.items() if s.type == "audio"}

        def video() -> Iterator[Any]:
            last = None
            for part in parts:
                with av.open(str(part)) as piece:
                    stream = piece.streams.video[0]
                    if bytes(stream.codec_context.extradata or b"") != headers:
                        raise InputError(part, "encoded with other settings than the first "
                                               "chunk; cannot join them without encoding")
                    for packet in piece.demux(stream):
                        if packet.size == 0:
                            continue
                        if last is not None and packet.dts is not None and packet.dts <= last:
                            packet.dts = last + 1  # (a variable frame rate's join)
                        last = packet.dts
                        packet.stream = vout
                        yield packet

        def others() -> Iterator[Any]:
            if not copies:
                return
            _seek_before(container, vin, span, info)  # (or read from the start)
            for packet in container.demux(*[container.streams[i] for i in copies]):
                if packet.dts is not None and _copied(packet, span, audio_open):
                    packet.stream = copies[packet.stream.index]
                    yield packet
                elif span.hi is not None and not audio_open:
                    return

        def when(packet) -> float:
            stamp = packet.dts if packet.dts is not None else packet.pts
            return float(stamp * packet.time_base) if stamp is not None else 0.0

        try:
            for packet in heapq.merge(video(), others(), key=when):
                output.mux(packet)
                if packet.stream.type == "audio":
                    report.audio_packets += 1
        except av.FFmpegError as exc:
            raise InputError(dst, f"cannot join its chunks ({_why(exc)})") from None
    return report


def read_frames(path: str | Path, *, start: float | None = None,
                duration: float | None = None) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(seconds, (H, W, 3) uint8 RGB)`` per frame in display orientation.

    For inspection and tests; the jobs go through :func:`process_video`.
    """
    path = Path(path)
    info = probe(path)
    with _open_input(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fmt, full = _plain_format(info.pix_fmt)
        colour = _Colour(_sws_colorspace(info.colorspace, info.coded_height),
                         full or info.color_range == 2, fmt, splice=False)
        k = info.rotation // 90
        lo = info.start_time + (start or 0)
        hi = None if duration is None else lo + duration
        try:
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                if t < lo - 1e-9:
                    continue
                if hi is not None and t >= hi - 1e-9:
                    break
                rgb = colour.to_rgb(frame)
                yield t, (np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb)
        except Exception as exc:
            if not _is_av_error(exc):
                raise
            raise InputError(path, f"corrupt or truncated video ({_why(exc)})") from None
