"""The threaded pipeline: order and count kept, memory bounded, the first error stops every
stage with its own message, and a video job that fails leaves no output."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from mosaicgan.errors import InputError
from mosaicgan.options import VideoOptions
from mosaicgan.video.io import PerFrame, VideoReport, process_video, read_frames
from mosaicgan.video.pipeline import Sink, Source, Stop, Stopped, stop_all

from .test_video import make_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4")


def test_order_and_count_kept_through_source_and_sink():
    rng = random.Random(0)
    got: list[int] = []

    def produce():
        for i in range(500):
            if rng.random() < 0.05:
                time.sleep(0.001)
            yield i

    def consume(batch):
        if rng.random() < 0.05:
            time.sleep(0.001)
        got.extend(batch)

    stop = Stop()
    sink = Sink(consume, 3, stop)
    batch = []
    for i in Source(produce, 4, stop):
        batch.append(i)
        if len(batch) == 7:
            sink.put(batch)
            batch = []
    sink.put(batch)
    sink.close()
    assert got == list(range(500))


def counting(made: list[int], n: int):
    """A producer of 0..n-1 that notes each item as it makes it."""
    def produce():
        for i in range(n):
            made.append(i)
            yield i
    return produce


def test_a_source_runs_at_most_depth_items_ahead():
    made: list[int] = []
    stop = Stop()
    source = Source(counting(made, 100), 5, stop)
    it = iter(source)
    assert next(it) == 0
    time.sleep(0.3)  # time enough to run far ahead, were it not bounded
    # one in the reader's hand, five queued, one waiting to be put
    assert len(made) <= 1 + 5 + 1
    stop_all(stop, source)


def test_an_error_in_the_source_reaches_the_reader_unchanged():
    def produce():
        yield 1
        raise InputError("clip.mp4", "corrupt or truncated video at 0.04 s")

    stop = Stop()
    sink = Sink(lambda item: None, 2, stop)
    with pytest.raises(InputError, match=r"clip\.mp4: corrupt or truncated"):
        for item in Source(produce, 2, stop):
            sink.put(item)
    assert stop.stopped
    sink.join()  # the sink's thread ended too


def test_an_error_in_the_sink_stops_the_source_and_reaches_the_driver():
    made: list[int] = []

    def consume(item):
        if item == 3:
            raise ValueError("the processor returned (2, 2) for a frame of (4, 4, 3) uint8")

    stop = Stop()
    source = Source(counting(made, 10_000), 2, stop)
    sink = Sink(consume, 2, stop)
    with pytest.raises(ValueError, match="returned \\(2, 2\\)"):
        for item in source:
            sink.put(item)
        sink.close()
    source.join()
    assert len(made) < 100  # it stopped, it did not decode the rest
    with pytest.raises(Stopped):
        stop.put(None, 1)  # type: ignore[arg-type]


def test_depth_must_be_positive():
    with pytest.raises(ValueError, match="depth"):
        Source(lambda: [], 0, Stop())
    with pytest.raises(ValueError, match="depth"):
        Sink(lambda item: None, 0, Stop())


def test_frames_are_decoded_while_the_processor_works(clip, tmp_path):
    """The processor's first batch sleeps; meanwhile the decoding thread goes on."""
    report = VideoReport(clip, tmp_path / "out.mp4")
    seen_ahead = []

    class Slow:
        def push(self, frames, indices):
            if indices[0] == 0:
                time.sleep(0.5)
                seen_ahead.append(report.frames_read)
            return frames

        def flush(self):
            return []

    out = tmp_path / "out.mp4"
    process_video(clip, out, Slow(), VideoOptions(progress=False, batch=4), report=report)
    assert seen_ahead[0] > 4  # frames past the first batch were decoded during it
    assert len(list(read_frames(out))) == report.frames_written == report.frames_read


def test_frame_order_and_count_kept_through_a_video(clip, tmp_path):
    """Each output frame is its own input frame (a number written into it survives)."""
    def stamp(frame, index):
        out = frame.copy()
        out[:16, :16] = (index * 10) % 256
        return out

    out = tmp_path / "stamped.mp4"
    report = process_video(clip, out, PerFrame(stamp), VideoOptions(progress=False, batch=3))
    frames = [f for _, f in read_frames(out)]
    assert len(frames) == report.frames_read == len(list(read_frames(clip)))
    marks = [int(np.median(f[4:12, 4:12])) for f in frames]
    assert all(abs(m - (i * 10) % 256) <= 3 for i, m in enumerate(marks)), marks


@pytest.mark.parametrize("where", ["processor", "encoder"])
def test_a_failing_stage_stops_the_job_and_leaves_no_output(clip, tmp_path, where):
    calls = []

    def broken(frame, index):
        calls.append(index)
        if index == 5:
            if where == "processor":
                raise RuntimeError("the model ran out of memory")
            return frame[:2]  # the wrong shape: the encoding thread refuses it
        return frame

    out = tmp_path / "out.mp4"
    message = "out of memory" if where == "processor" else "returned \\(2,"
    with pytest.raises((RuntimeError, ValueError), match=message):
        process_video(clip, out, PerFrame(broken), VideoOptions(progress=False, batch=2))
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # no temporary file either
    assert max(calls) < 20  # the job stopped soon after


def test_a_cancelled_job_stops_every_thread(clip, tmp_path):
    from mosaicgan.errors import Cancelled

    cancel = threading.Event()

    def cancel_at_3(frame, index):
        if index == 3:
            cancel.set()
        return frame

    before = threading.active_count()
    with pytest.raises(Cancelled):
        process_video(clip, tmp_path / "out.mp4", PerFrame(cancel_at_3),
                      VideoOptions(progress=False, batch=2, cancel=cancel))
    assert not (tmp_path / "out.mp4").exists()
    assert threading.active_count() == before
