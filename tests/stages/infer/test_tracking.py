"""Person boxes from joints, box clipping, and IoU tracks (mmpose's matcher) on boxes the test lays out."""

import numpy as np

from stages.infer.boxes import Detection, clip_box, joints_box, search_windows
from stages.infer.tracking import keep_most_confident, track_boxes


def test_joints_box_is_the_confident_joints_box_grown_by_a_quarter():
    joints = np.zeros((17, 2))
    joints[:, 0] = np.linspace(100, 200, 17)
    joints[:, 1] = np.linspace(50, 450, 17)
    scores = np.full(17, 0.9)
    scores[0] = 0.1  # an unconfident joint far away must not widen the box
    joints[0] = [0, 0]
    det = joints_box(joints, scores, (1000, 1000), kpt_thr=0.3)
    lo, hi = joints[1:].min(axis=0), joints[1:].max(axis=0)
    centre, half = (lo + hi) / 2, (hi - lo) / 2 * 1.25
    np.testing.assert_allclose(det.box_xyxy, [*(centre - half), *(centre + half)])
    assert abs(det.score - 0.9) < 1e-9


def test_too_few_confident_joints_lose_the_person_and_boxes_stay_inside_the_image():
    joints = np.random.default_rng(0).uniform(0, 100, (17, 2))
    scores = np.zeros(17)
    scores[:3] = 1.0
    assert joints_box(joints, scores, (640, 480), kpt_thr=0.3) is None
    np.testing.assert_allclose(clip_box(np.array([-20, -5, 700, 300]), 640, 480), [0, 0, 640, 300])
    assert clip_box(np.array([650, 10, 700, 300]), 640, 480) is None  # wholly outside


def test_search_windows_tile_the_frame_at_half_steps():
    windows = search_windows(600, 400)
    assert len(windows) == 9 + 25
    np.testing.assert_allclose(windows[0], [0, 0, 300, 200])
    np.testing.assert_allclose(windows[8], [300, 200, 600, 400])  # the last half-frame window ends at the corner
    np.testing.assert_allclose(windows[-1], [400, 400 * 2 / 3, 600, 400])
    assert windows[:, 2].max() == 600 and windows[:, 3].max() == 400 and windows.min() == 0


def test_tracks_follow_overlapping_boxes_and_new_people_get_new_ids():
    a = lambda x: Detection((x, 100.0, x + 100.0, 300.0), 0.9)  # noqa: E731
    b = lambda x: Detection((x, 120.0, x + 90.0, 310.0), 0.8)  # noqa: E731
    boxes = {0: [a(0)], 1: [b(400), a(10)], 2: [a(20), b(410)], 3: [], 4: [b(420)]}
    tracked = track_boxes(boxes, 5)
    ids = [(t.frame, t.track, t.box_xyxy[0]) for t in tracked]
    # person a is track 0 throughout; b appears in frame 1 as track 1; after an empty frame b is new (2)
    assert ids == [(0, 0, 0.0), (1, 0, 10.0), (1, 1, 400.0), (2, 0, 20.0), (2, 1, 410.0), (4, 2, 420.0)]


def test_max_people_keeps_the_most_confident_boxes():
    dets = [Detection((0, 0, 10, 10), 0.5), Detection((0, 0, 50, 50), 0.9), Detection((0, 0, 20, 20), 0.9)]
    kept = keep_most_confident(dets, 2)
    assert [d.box_xyxy[2] for d in kept] == [50, 20]  # score first, then the larger box
    tracked = track_boxes({0: dets}, 1, max_people=1)
    assert len(tracked) == 1 and tracked[0].box_xyxy == (0, 0, 50, 50)
