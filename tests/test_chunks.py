"""Long videos in chunks (mosaicgan.video.chunks): every frame once, in order, with its
audio; the same pixels as one pass; tracks and the whole-track rule across chunks; resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mosaicgan.detect.base import Detection
from mosaicgan.jobs.batch import BatchReport, Target
from mosaicgan.jobs.cluster import Done, _Chunked, _Item
from mosaicgan.jobs.mosaic import mosaic_video, mosaic_video_job
from mosaicgan.jobs.restore import restore_video
from mosaicgan.jobs.translate import translate_video
from mosaicgan.models.restorer import Restorer
from mosaicgan.options import VideoOptions
from mosaicgan.video.chunks import (
    ChunkResult,
    ChunkStore,
    chunk_folder,
    chunk_path,
    linked_tracks,
    plan_chunks,
    withheld_needed,
)
from mosaicgan.video.io import VideoReport, probe
from mosaicgan.video.processors import OutputRefused

from .test_video import (
    BLOCK,
    BOX,
    TOL_MEAN,
    _identity_translator,
    audio_packets,
    box_mask_of,
    frames_of,
    make_clip,
    video_times,
)

av = pytest.importorskip("av")
N_LONG = 60  # 6 s at 10 fps: three chunks of 2 s
CHUNKED = VideoOptions(progress=False, chunk=2.0)
WHOLE = VideoOptions(progress=False, chunk=None)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("long") / "long.mp4", n=N_LONG)


def test_the_cut(long_clip, tmp_path):
    chunks = plan_chunks(long_clip, tmp_path / "o.mp4", CHUNKED)
    assert [c.frames for c in chunks] == [(0, 20), (20, 40), (40, 60)]
    # A second of each neighbour processed for context, and those frames matched.
    assert [(c.first_index, c.lo, c.hi) for c in chunks] == [(0, 0, 3), (10, 1, 5), (30, 3, None)]
    assert chunks[1].shared == ((10, 30), (30, 50))
    # In one pass: too short for its chunks, chunks off, an encoder a chunk cannot hold.
    assert plan_chunks(long_clip, tmp_path / "o.mp4", VideoOptions(chunk=5.0)) is None
    assert plan_chunks(long_clip, tmp_path / "o.mp4", WHOLE) is None
    assert plan_chunks(long_clip, tmp_path / "o.ogv", CHUNKED) is None
    with pytest.raises(ValueError, match="chunk"):
        VideoOptions(chunk=0.5)


def test_a_chunked_video_has_every_frame_once_in_order_with_its_audio(long_clip, tmp_path):
    lines: list[str] = []
    whole = mosaic_video(long_clip, tmp_path / "whole.mp4", box=BOX, block=BLOCK, options=WHOLE)
    parts = mosaic_video(long_clip, tmp_path / "parts.mp4", box=BOX, block=BLOCK,
                         options=CHUNKED, log=lines.append)
    assert sum("chunk " in line and " of 3 " in line for line in lines) == 3
    out = tmp_path / "parts.mp4"
    assert video_times(out) == video_times(tmp_path / "whole.mp4")  # once each, in order
    assert len(video_times(out)) == N_LONG
    assert audio_packets(out) == audio_packets(long_clip)  # copied once, byte for byte
    a, b = frames_of(tmp_path / "whole.mp4"), frames_of(out)
    assert np.abs(a.astype(int) - b).mean() < TOL_MEAN  # different encodes, same pixels
    # Inside the box: the same mosaic in every frame, the joins included.
    x, y, w, h = BOX
    assert np.abs(a[:, y:y + h, x:x + w].astype(int) - b[:, y:y + h, x:x + w]).mean() < TOL_MEAN
    assert parts.frames_written == whole.frames_written == N_LONG
    assert parts.tracks == whole.tracks  # one track over the joins, each frame counted once
    assert parts.audio_packets == whole.audio_packets > 0
    assert not chunk_folder(out).exists()
    with av.open(str(out)) as c:
        assert '"operation": "mosaic"' in c.metadata.get("comment", "")


@pytest.mark.parametrize("case", ["part of the video", "rotated", "VP9 in .webm"])
def test_chunks_keep_the_range_the_rotation_and_the_encoder(case, tmp_path):
    clip, name, options = tmp_path / "in.mp4", "out.mp4", {}
    if case == "part of the video":
        options = {"start": 1.0, "duration": 4.5}
    make_clip(clip, n=N_LONG, rotation=90 if case == "rotated" else 0,
              audio=case != "VP9 in .webm")
    if case == "VP9 in .webm":
        name = "out.webm"
    lines: list[str] = []
    for chunk, out in ((None, tmp_path / "whole" / name), (2.0, tmp_path / "parts" / name)):
        mosaic_video(clip, out, box=BOX, block=BLOCK, log=lines.append,
                     options=VideoOptions(progress=False, chunk=chunk, **options))
    whole, parts = tmp_path / "whole" / name, tmp_path / "parts" / name
    assert sum(" of 3 (" in line or " of 2 (" in line for line in lines) >= 2
    assert video_times(parts) == video_times(whole)
    assert probe(parts).rotation == probe(whole).rotation and probe(parts).codec == \
        probe(whole).codec
    assert np.abs(frames_of(parts).astype(int) - frames_of(whole)).mean() < TOL_MEAN
    if case != "VP9 in .webm":
        assert audio_packets(parts) == audio_packets(whole)


def test_a_chunked_translation_refused_in_one_chunk_is_refused_whole(long_clip, tmp_path,
                                                                     inject):
    class Late:  # nudity only after the first chunk
        calls = 0

        def detect(self, image):
            self.calls += 1
            return [Detection("FEMALE_BREAST_EXPOSED", 0.9, (0, 0, 10, 10))] \
                if self.calls > 25 else []

    inject(Late())
    with pytest.raises(OutputRefused):
        translate_video(long_clip, tmp_path / "t.mp4", _identity_translator(), options=CHUNKED,
                        log=lambda _: None)
    assert list(tmp_path.iterdir()) == []  # neither the output nor the chunks


class Switch:
    """A detector that sees a face while ``on`` (the test turns it off mid-video)."""

    def __init__(self):
        self.on = True

    def detect(self, image):
        return [Detection("FACE_FEMALE", 0.9, (0, 0, 320, 320))] if self.on else []


@pytest.fixture(scope="module")
def long_mosaiced(long_clip, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("long_mosaiced") / "mosaiced.mp4"
    mosaic_video(long_clip, out, box=BOX, block=BLOCK, options=WHOLE)
    return out


def test_a_track_refused_in_chunk_1_stays_withheld_in_the_chunks_after(
        long_mosaiced, tiny_model, tmp_path, inject):
    detector = inject(Switch())
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    lines: list[str] = []

    def log(line: str) -> None:
        lines.append(line)
        if "chunk 2 of 3" in line:
            detector.on = False  # the gate sees the face in chunk 1 only

    out = tmp_path / "restored.mp4"
    report = restore_video(long_mosaiced, out, restorer, mask=box_mask_of(BOX),
                           options=CHUNKED, log=log)
    assert not detector.on  # (chunks 2 and 3 were restored with a gate that saw nothing)
    assert any("2 chunk(s) again" in line for line in lines)
    # One track over the whole video, kept as the input had it in all its frames.
    assert report.regions_restored == 0 and not report.synthesized
    assert list(report.withheld.values()) == [{"frames": [0, N_LONG - 1], "box": list(BOX),
                                               "count": N_LONG}]
    restored, source = frames_of(out), frames_of(long_mosaiced)
    assert np.abs(restored.astype(int) - source).mean() < TOL_MEAN
    x, y, w, h = BOX
    inside = np.abs(restored[:, y:y + h, x:x + w].astype(int) - source[:, y:y + h, x:x + w])
    assert inside.mean(axis=(1, 2, 3)).max() < TOL_MEAN  # every frame, the last chunk's too


def test_with_nothing_refused_chunks_restore_as_one_pass(long_mosaiced, tiny_model, tmp_path,
                                                         no_detections):
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    mask = box_mask_of(BOX)
    whole = restore_video(long_mosaiced, tmp_path / "w.mp4", restorer, mask=mask, options=WHOLE,
                          log=lambda _: None)
    parts = restore_video(long_mosaiced, tmp_path / "p.mp4", restorer, mask=mask,
                          options=CHUNKED, log=lambda _: None)
    assert parts.regions_restored == whole.regions_restored == N_LONG
    assert parts.synthesized == whole.synthesized
    a, b = frames_of(tmp_path / "w.mp4"), frames_of(tmp_path / "p.mp4")
    assert np.abs(a.astype(int) - b).mean() < TOL_MEAN


def test_untracked_restoration_runs_in_one_pass(long_mosaiced, tiny_model, tmp_path,
                                               no_detections):
    """Without tracks nothing matches regions across chunks (one refusal withholds every
    region of the video): such a restoration is never cut."""
    restorer = Restorer.from_checkpoint(tiny_model, device="cpu")
    lines: list[str] = []
    report = restore_video(long_mosaiced, tmp_path / "u.mp4", restorer, mask=box_mask_of(BOX),
                           stabilise=False, options=CHUNKED, log=lines.append)
    assert report.frames_written == N_LONG
    assert not any("chunk" in line for line in lines)


def test_an_interrupted_video_resumes_with_the_next_chunk(long_clip, tmp_path):
    out = tmp_path / "o.mp4"

    def stop_at_chunk_3(line: str) -> None:
        if "chunk 3 of 3" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        mosaic_video(long_clip, out, box=BOX, block=BLOCK, options=CHUNKED, log=stop_at_chunk_3)
    assert not out.exists()
    folder = chunk_folder(out)
    assert chunk_path(out, 0).exists() and chunk_path(out, 1).exists()
    (folder / ".00002.mp4.0a1b2c3d.part").write_bytes(b"cut off")  # a killed job's
    (tmp_path / ".o.mp4.0a1b2c3d.part").write_bytes(b"cut off")
    lines: list[str] = []
    mosaic_video(long_clip, out, box=BOX, block=BLOCK, options=CHUNKED, log=lines.append)
    assert any("2 of 3 chunk(s) done by an earlier run" in line for line in lines)
    assert [line for line in lines if "chunk " in line and " of 3 (" in line] == [
        f"{long_clip}: chunk 3 of 3 (frames 40-59)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mp4"]  # no chunks, no .part
    fresh = tmp_path / "fresh.mp4"
    mosaic_video(long_clip, fresh, box=BOX, block=BLOCK, options=CHUNKED, log=lambda _: None)
    # (x264 with threads is not bit-exact from run to run: within its rounding.)
    assert np.abs(frames_of(out).astype(int) - frames_of(fresh)).mean() < TOL_MEAN


def test_chunks_of_other_settings_or_another_input_are_not_reused(long_clip, tmp_path):
    out = tmp_path / "o.mp4"
    job = mosaic_video_job(long_clip, out, box=BOX, block=BLOCK, options=CHUNKED)
    chunks = plan_chunks(long_clip, out, CHUNKED)
    assert job.open(chunks) == []
    ChunkStore(out).save(job.work(chunks[0], frozenset()))
    assert [r.index for r in job.open(chunks)] == [0]
    other = mosaic_video_job(long_clip, out, box=BOX, block=2 * BLOCK, options=CHUNKED)
    assert other.open(chunks) == []  # another block size: started over
    assert not chunk_path(out, 0).exists()
    ChunkStore(out).save(other.work(chunks[0], frozenset()))
    assert [r.index for r in other.open(chunks)] == [0]
    video = chunk_path(out, 0)
    video.write_bytes(video.read_bytes()[:-1])  # not the video its record was made with
    assert other.open(chunks) == []
    ChunkStore(out).save(other.work(chunks[0], frozenset()))
    (chunk_folder(out) / "00000.json").write_text('{"index": 0')  # a record cut off
    assert other.open(chunks) == []


# --- tracks across chunks, without video ------------------------------------------------------

def _result(index: int, seen: dict[int, list], refused=(), withheld=()) -> ChunkResult:
    return ChunkResult(index, VideoReport(Path("in.mp4"), Path("out.mp4")), frozenset(withheld),
                       frozenset(refused), seen)


def test_tracks_are_matched_where_their_boxes_meet_on_a_shared_frame():
    results = [_result(0, {3: [(18, (0, 0, 10, 10))], 4: [(18, (50, 50, 5, 5))]}),
               _result(1, {0: [(18, (5, 5, 10, 10))], 1: [(19, (50, 50, 5, 5))]}),
               _result(2, {7: [(40, (5, 5, 10, 10))]})]
    ids = linked_tracks(results)
    assert ids[(0, 3)] == ids[(1, 0)]  # overlap on frame 18
    assert ids[(0, 4)] != ids[(1, 1)]  # the same place, but not on the same frame
    assert len(set(ids.values())) == 4
    # A refusal in the last chunk reaches back through every link; untracked regions
    # (negative ids) have no identity to withhold.
    chain = [_result(0, {1: [(18, (0, 0, 9, 9))], -1: [(18, (0, 0, 9, 9))]}),
             _result(1, {2: [(18, (0, 0, 9, 9)), (38, (0, 0, 9, 9))],
                         5: [(38, (60, 0, 9, 9))]}),
             _result(2, {9: [(38, (0, 0, 9, 9))]}, refused=[9])]
    assert withheld_needed(chain) == {0: frozenset({1}), 1: frozenset({2}), 2: frozenset({9})}


def test_the_cluster_driver_sends_chunks_again_then_the_join(long_clip, tmp_path):
    out = tmp_path / "o.mp4"
    chunks = plan_chunks(long_clip, out, CHUNKED)
    ChunkStore(out).open(long_clip, "settings", chunks)
    target = Target(long_clip, out)
    driver = _Chunked(chunks)
    first = driver.take(_Item(target, opening=tuple(chunks)), Done(None, BatchReport(), []),
                        print)
    assert [i.chunk.index for i in first] == [0, 1, 2]
    for chunk in chunks:  # (what the workers would have written)
        chunk_path(out, chunk.index).write_bytes(b"chunk %d" % chunk.index)
    box = (0, 0, 9, 9)
    done = [_result(0, {4: [(25, box)]}, refused=[4], withheld=[4]),
            _result(1, {2: [(25, box), (35, box)], 3: [(35, (40, 40, 9, 9))]}),
            _result(2, {1: [(35, box)]})]
    for item, result in zip(first[:2], done[:2], strict=True):
        assert driver.take(item, Done(None, BatchReport(), [], chunks=[result]), print) == []
    again = driver.take(first[2], Done(None, BatchReport(), [], chunks=[done[2]]), print)
    assert [(i.chunk.index, i.withheld) for i in again] == [(1, {2}), (2, {1})]
    assert ChunkStore(out).result(0).refused == {4}  # each result kept as it comes
    last = None
    for item in again:
        result = _result(item.chunk.index, done[item.chunk.index].seen,
                         withheld=item.withheld)
        last = driver.take(item, Done(None, BatchReport(), [], chunks=[result]), print)
    assert last == [_Item(target)]  # the join: the whole file's job finds every chunk done
    assert driver.results[1].withheld == {2}


def test_a_failed_chunk_fails_its_video_and_drops_its_other_chunks(long_clip, tmp_path):
    out = tmp_path / "o.mp4"
    chunks = plan_chunks(long_clip, out, CHUNKED)
    ChunkStore(out).open(long_clip, "settings", chunks)
    driver = _Chunked(chunks)
    target = Target(long_clip, out)
    items = driver.take(_Item(target, opening=tuple(chunks)), Done(None, BatchReport(), []),
                        print)
    assert driver.take(items[0], Done(None, BatchReport(), [], ok=False), print) == []
    assert driver.take(items[1], None, print) == []  # dropped before it ran
    assert chunk_folder(out).exists()  # one still running
    assert driver.take(items[2], Done(None, BatchReport(), [], chunks=[_result(2, {})]),
                       print) == []
    assert not chunk_folder(out).exists()
