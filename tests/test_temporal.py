"""RegionTracker: gap filling, hold, lead-in, smoothing, detect-every-N, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from mosaicgan.geometry import box_iou, components, hull
from mosaicgan.video.temporal import (
    CARRIED,
    FILLED,
    HELD,
    LEAD,
    SEEN,
    RegionTracker,
    union_mask,
)

H, W = 60, 80


def rect(box, height=H, width=W) -> np.ndarray:
    x, y, w, h = box
    m = np.zeros((height, width), bool)
    m[max(y, 0):y + h, max(x, 0):x + w] = True
    return m


def run(tracker: RegionTracker, masks: list[np.ndarray | None]) -> dict[int, list]:
    """Push every mask, flush, and check frames come back once each, in order."""
    out: list = []
    for i, mask in enumerate(masks):
        ready = tracker.push(i, mask)
        assert all(index <= i - tracker.lookahead for index, _ in ready)
        out += ready
    out += tracker.flush()
    assert [index for index, _ in out] == list(range(len(masks)))
    return dict(out)


def covered(regions, box) -> bool:
    return bool(union_mask(regions, (H, W))[rect(box)].all())


def test_gap_in_frame_5_is_filled():
    box = (10, 12, 20, 16)
    masks = [rect(box) if 1 <= i <= 10 and i != 5 else np.zeros((H, W), bool)
             for i in range(16)]
    out = run(RegionTracker(hold=0, lead=0, smooth=0), masks)
    assert covered(out[5], box) and [r.state for r in out[5]] == [FILLED]
    assert all(covered(out[i], box) for i in range(1, 11))
    assert out[0] == [] and out[11] == []  # no hold, no lead: nothing outside 1-10
    # Without gap filling the frame is lost (a detector's miss slips through).
    out = run(RegionTracker(hold=0, lead=0, smooth=0, max_gap=0), masks)
    assert out[5] == []


def test_hold_and_lead():
    box = (30, 20, 12, 12)
    masks = [rect(box) if 5 <= i <= 9 else np.zeros((H, W), bool) for i in range(20)]
    out = run(RegionTracker(hold=3, lead=2, smooth=0), masks)
    states = {i: [r.state for r in out[i]] for i in range(20)}
    assert states[3] == states[4] == [LEAD] and states[2] == []
    assert all(states[i] == [SEEN] for i in range(5, 10))
    assert states[10] == states[11] == states[12] == [HELD] and states[13] == []
    assert all(covered(out[i], box) for i in range(3, 13))


def test_smoothing_reduces_jitter_and_never_uncovers():
    rng = np.random.default_rng(0)
    true = np.array([20, 15, 30, 24])
    noisy = [tuple(int(v) for v in true + rng.integers(-3, 4, 4) * [1, 1, 0, 0])
             for _ in range(60)]
    masks = [rect(b) for b in noisy]
    out = run(RegionTracker(smooth=3, margin=0.0), masks)
    xs_in = np.array([b[0] for b in noisy], float)
    xs_out = np.array([out[i][0].box[0] for i in range(60)], float)
    ys_out = np.array([out[i][0].box[1] for i in range(60)], float)
    assert np.diff(xs_out).std() < 0.5 * np.diff(xs_in).std()
    assert np.abs(np.diff(ys_out)).mean() < 1.5
    assert len({r.track for i in out for r in out[i]}) == 1  # one region throughout
    for i, mask in enumerate(masks):  # the raw detection is always covered in full
        assert union_mask(out[i], (H, W))[mask].all()


def test_median_keeps_a_steady_region_exactly_steady():
    # A mosaic finder whose mask wobbles by a pixel now and then: windows must not.
    boxes = [(20, 20, 24, 24)] * 30
    boxes[7], boxes[19] = (19, 20, 25, 24), (20, 21, 24, 23)
    out = run(RegionTracker(shape="mask", smoothing="median", smooth=2, hold=0, lead=0),
              [rect(b) for b in boxes])
    assert {out[i][0].steady_box for i in range(30)} == {(20, 20, 24, 24)}
    # shape="mask" acts on the detected pixels only, as detected.
    assert all((out[i][0].mask == rect(boxes[i])).all() for i in range(30))


def test_detect_every_carries_and_interpolates():
    # A region moving right 2 px per frame, detected on every 4th frame only.
    n, every = 21, 4
    truth = [(5 + 2 * i, 20, 16, 16) for i in range(n)]
    masks = [rect(truth[i]) if i % every == 0 else None for i in range(n)]
    tracker = RegionTracker(detect_every=every, smooth=0, margin=0.0)
    assert tracker.lookahead >= every
    out = run(tracker, masks)
    for i in range(n):
        assert covered(out[i], truth[i]), i  # the path between detections is covered
        assert [r.state for r in out[i]] == [SEEN if i % every == 0 else CARRIED]


def test_detect_every_bridges_a_missed_detection():
    box = (10, 10, 20, 20)
    masks = [None] * 25
    for i in range(0, 25, 3):
        masks[i] = rect(box) if i != 9 else np.zeros((H, W), bool)
    out = run(RegionTracker(detect_every=3, hold=0, lead=0, smooth=0), masks)
    assert all(covered(out[i], box) for i in range(25))


def test_two_regions_are_two_tracks():
    a, b = (5, 5, 12, 12), (50, 30, 14, 14)
    masks = [rect(a) | rect(b) for _ in range(6)]
    out = run(RegionTracker(), masks)
    assert all(len(out[i]) == 2 for i in range(6))
    assert len({r.track for i in out for r in out[i]}) == 2


def test_streaming_state_stays_bounded():
    tracker = RegionTracker(hold=2, detect_every=2)
    rng = np.random.default_rng(1)
    for i in range(600):
        x = int(rng.integers(0, 60))
        tracker.push(i, rect((x, 10, 12, 12)) if i % 2 == 0 else None)
    assert len(tracker._tracks) < 10
    assert sum(len(t.seen) for t in tracker._tracks) < 40
    assert len(tracker._observed) < 40
    assert len(tracker.flush()) == tracker.lookahead


def test_errors_and_helpers():
    tracker = RegionTracker()
    tracker.push(0, None)
    with pytest.raises(ValueError, match="in order"):
        tracker.push(2, None)
    with pytest.raises(ValueError, match="shape"):
        RegionTracker(shape="blob")
    with pytest.raises(ValueError, match=">= 0"):
        RegionTracker(hold=-1)
    assert box_iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(1 / 3)
    assert hull((0, 0, 2, 2), (5, 6, 1, 1)) == (0, 0, 6, 7)
    parts = components(rect((1, 1, 3, 3)) | rect((10, 10, 2, 2)))
    assert sorted(box for box, _ in parts) == [(1, 1, 3, 3), (10, 10, 2, 2)]
    # Nothing ever detected: every frame comes back, empty.
    out = run(RegionTracker(), [np.zeros((H, W), bool)] * 5)
    assert all(regions == [] for regions in out.values())


def test_ellipses_are_tracked_as_ellipses_and_a_gap_as_the_path_s_ellipses():
    """shape="ellipse": each frame covers the ellipse detected (grown a little), not its
    box; a frame between two detections (here a missed one) covers every ellipse on the
    path from one to the other (here they are in one place: that ellipse)."""
    from mosaicgan.regions.masks import paint_ellipse

    box = (20, 10, 40, 30)
    ellipse = np.zeros((H, W), bool)
    paint_ellipse(ellipse, box)
    masks = [ellipse] * 3 + [None] + [ellipse] * 3  # frame 3: no detection ran
    masks[3] = np.zeros((H, W), bool)  # ran and missed
    out = run(RegionTracker(shape="ellipse", hold=0, smooth=0), masks)
    for i in range(7):
        cover = union_mask(out[i], (H, W))
        assert cover[ellipse].all()  # every detected pixel
        wider = np.zeros((H, W), bool)
        paint_ellipse(wider, box, 0.5 * 1.15)
        corners = rect(box) & ~wider
        assert corners.sum() > 40 and not cover[corners].any(), i  # the box's corners
        assert cover.sum() < 0.9 * rect(box).sum() * 1.05 ** 2
    with pytest.raises(ValueError, match="unknown shape"):
        RegionTracker(shape="oval")


def test_an_ellipse_moving_between_two_detections_covers_every_ellipse_on_its_way():
    """Detections on every 4th frame of an ellipse moving 6 px a frame: each frame between
    covers the ellipse where it is then, and not the corners of the path's box."""
    from mosaicgan.regions.masks import paint_ellipse

    def at(i: int) -> tuple[int, int, int, int]:
        return (4 + 6 * i, 8 + 2 * i, 24, 18)

    masks = []
    for i in range(9):
        ellipse = np.zeros((H, W), bool)
        paint_ellipse(ellipse, at(i))
        masks.append(ellipse if i % 4 == 0 else None)
    out = run(RegionTracker(shape="ellipse", hold=0, smooth=0, margin=0.0, detect_every=4),
              masks)
    first, last = at(0), at(4)
    path_box = (first[0], first[1], last[0] + last[2] - first[0], last[1] + last[3] - first[1])
    for i in range(1, 4):
        cover = union_mask(out[i], (H, W))
        truth = np.zeros((H, W), bool)
        paint_ellipse(truth, at(i))
        assert cover[truth].all(), i
        assert cover.sum() < 0.9 * rect(path_box).sum(), i  # the ellipses' hull, not the box


def test_a_face_faster_than_its_box_between_detections_stays_one_covered_track():
    """Detections on every 4th frame of a 12-px box moving 5 px a frame: 20 px between two
    detections, more than its own size, so no overlap links them; the motion gate does,
    and every frame between is covered (before the gate: a track per detection, and the
    face uncovered between them)."""
    W2 = 200

    def box_at(i):
        return (10 + 5 * i, 20, 12, 12)

    masks = [rect(box_at(i), H, W2) if i % 4 == 0 else None for i in range(17)]
    out = run(RegionTracker(detect_every=4, hold=0, smooth=0), masks)
    assert len({r.track for regions in out.values() for r in regions}) == 1
    for i in range(17):
        assert union_mask(out[i], (H, W2))[rect(box_at(i), H, W2)].all(), i
    # Two faces far apart stay two tracks.
    far = [rect((10, 10, 12, 12), H, W2) | rect((150, 30, 12, 12), H, W2) if i % 4 == 0
           else None for i in range(9)]
    out = run(RegionTracker(detect_every=4, hold=0, smooth=0), far)
    assert len({r.track for regions in out.values() for r in regions}) == 2


def test_a_moving_face_is_covered_on_its_way_after_its_last_detection():
    """The clip ends three frames after the last detection of a box moving 5 px a frame:
    those frames cover where it went (its speed from the two detections before), not
    only where it was last seen."""
    W2 = 200

    def box_at(i):
        return (10 + 5 * i, 20, 12, 12)

    masks = [rect(box_at(i), H, W2) if i % 4 == 0 else None for i in range(12)]
    out = run(RegionTracker(detect_every=4, hold=0, smooth=2), masks)
    for i in range(12):
        assert union_mask(out[i], (H, W2))[rect(box_at(i), H, W2)].all(), i
