"""When a detector runs at a stride: cuts, large changes and the last frame detected too."""

from __future__ import annotations

import numpy as np
import pytest

from mosaicgan.jobs.mosaic import tracked_hider
from mosaicgan.video.schedule import DetectionSchedule

from .conftest import photo

H, W = 72, 128


def scene(name: str) -> np.ndarray:
    import cv2

    return cv2.resize(photo(name), (W, H), interpolation=cv2.INTER_AREA)


def detected(schedule: DetectionSchedule, frames: list[np.ndarray]) -> list[int]:
    out = [schedule.add(i, f) for i, f in enumerate(frames)] + [schedule.finish()]
    return [s.index for s in filter(None, out) if s.detect]


def test_every_frame_at_stride_one():
    frames = [scene("astronaut")] * 5
    assert detected(DetectionSchedule(1), frames) == [0, 1, 2, 3, 4]


def test_a_still_shot_is_detected_at_the_stride_and_on_its_last_frame():
    frames = [scene("astronaut")] * 11
    assert detected(DetectionSchedule(4), frames) == [0, 4, 8, 10]


def test_both_sides_of_a_cut_are_detected():
    frames = [scene("astronaut")] * 6 + [scene("coffee")] * 6
    schedule = DetectionSchedule(8)
    assert detected(schedule, frames) == [0, 5, 6, 11]
    assert schedule.cuts == 1


def test_a_large_change_since_the_last_detection_shortens_the_stride():
    """A fast pan: each frame moves a little, together they move far."""
    wide = np.tile(scene("astronaut"), (1, 4, 1))
    frames = [np.ascontiguousarray(wide[:, 6 * i:6 * i + W]) for i in range(24)]
    found = detected(DetectionSchedule(16), frames)
    assert found[0] == 0 and found[-1] == 23
    assert len(found) > 3  # more than the stride's 0, 16 and the last frame
    assert max(np.diff(found)) < 16


def test_a_slow_pan_is_followed_not_counted_as_a_change():
    """The camera moves 1 px a frame (8 px, 6 % of the frame, between two detections):
    aligned, the frames match, so the stride holds (before aligning they differ by more
    than CHANGE, which fired every few frames on any pan)."""
    import cv2

    wide = cv2.resize(photo("astronaut"), (3 * W, H), interpolation=cv2.INTER_AREA)
    frames = [np.ascontiguousarray(wide[:, i:i + W]) for i in range(20)]
    assert detected(DetectionSchedule(8), frames) == [0, 8, 16, 19]


def test_something_new_in_a_still_shot_shortens_the_stride():
    """A still shot into which something bright moves 4 px a frame from the left (a
    person walking in): no frame differs from the one before by a cut's worth, yet the
    detections come closer together than the stride."""
    frames = []
    for i in range(24):
        frame = scene("astronaut").copy()
        frame[:, :4 * i] = 255
        frames.append(frame)
    schedule = DetectionSchedule(8)
    found = detected(schedule, frames)
    assert schedule.cuts == 0
    assert max(np.diff(found)) < 8 and len(found) > 4


def test_the_schedule_refuses_a_stride_below_one():
    with pytest.raises(ValueError, match="detect_every must be >= 1"):
        DetectionSchedule(0)


def test_a_face_seen_only_just_before_a_cut_is_hidden_in_every_frame_it_shows():
    """Frames 0-6 are one shot, where a bright square (the "face" the stand-in detector
    finds) shows from frame 3; frames 7-20 are another shot without it. At a stride of 8
    the regular detections (0, 8, 16) never see it: the detection at the cut does, and the
    frames before it are covered back to the detection before."""
    first, second = scene("astronaut") // 4, scene("coffee") // 4 + 128
    frames = []
    for i in range(21):
        frame = (first if i < 7 else second).copy()
        if 3 <= i < 7:
            frame[20:40, 50:70] = 255
        frames.append(frame)

    def region_fn(frame):
        return (frame == 255).all(axis=2)

    hider = tracked_hider(region_fn, None, detect_every=8, style="solid")
    out = []
    for start in range(0, 21, 4):
        out += hider.push(frames[start:start + 4], list(range(start, min(start + 4, 21))))
    out += hider.flush()
    assert len(out) == 21
    for i in range(3, 7):
        assert (out[i][20:40, 50:70] != 255).all(), f"frame {i} shows the square"


def test_small_regions_close_together_are_followed_through_a_pan():
    """Three 10 px squares (42 and 85 px apart, as three small faces on a platform) on a
    picture panning 6 px a frame, detected every 8th frame: between two detections each
    moves 48 px, nearer a neighbour's old place than its own. Expected where the pan takes
    them (the schedule's alignment), each stays covered in every frame; matched by
    nearness alone, one track takes another's square and the first square is left bare
    in the frames between."""
    import cv2

    width, height, speed, frames_n = 640, 360, 6, 25
    wide = cv2.resize(photo("coffee"), (width + speed * frames_n, height),
                      interpolation=cv2.INTER_AREA) // 2
    for x in (300, 342, 427):  # squares on the picture, moving with it
        wide[180:195, x:x + 10] = 255
    frames = [np.ascontiguousarray(wide[:, speed * (frames_n - i):speed * (frames_n - i) + width])
              for i in range(frames_n)]

    def region_fn(frame):
        return (frame == 255).all(axis=2)

    hider = tracked_hider(region_fn, None, detect_every=8, style="solid")
    out = []
    for start in range(0, frames_n, 5):
        out += hider.push(frames[start:start + 5], list(range(start, min(start + 5, frames_n))))
    out += hider.flush()
    assert len(out) == frames_n
    for i, (clean, hidden) in enumerate(zip(frames, out, strict=True)):
        squares = region_fn(clean)
        assert squares.sum() == 3 * 150, i
        assert (hidden[squares] != 255).all(axis=-1).all(), f"frame {i} shows a square"
