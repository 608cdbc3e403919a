"""The camera-space root solve, its smoothing, and the cameras it reads (stages.export)."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from stages.export.camera_space import camera_space, camera_space_errors, runs_of_tracks, solve_root
from stages.export.intrinsics import (DEFAULT_DIAGONAL_FOV_DEG, CameraError, clip_intrinsics, default_intrinsics,
                                      load_camera)
from stages.synth.cameras import make_subject_cameras, project
from stages.synth.clip import camera_json, camera_path
from tests.helpers import SHARED_DATA

K = np.array([1145.0, 1143.0, 512.0, 498.0])  # fx fy cx cy


def people(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 17, 3) root-relative joints within +-400 mm, (n, 3) roots 2.5-7 m in front of the camera."""
    rng = np.random.default_rng(seed)
    rel = rng.uniform(-400, 400, (n, 17, 3))
    rel[:, 0] = 0
    root = np.stack([rng.uniform(-1500, 1500, n), rng.uniform(-500, 800, n), rng.uniform(2500, 7000, n)], axis=1)
    return rel, root


def pixels(points_mm: np.ndarray, k: np.ndarray = K) -> np.ndarray:
    return points_mm[..., :2] / points_mm[..., 2:3] * k[:2] + k[2:]


def test_exact_2d_gives_the_root_back_and_noise_costs_in_proportion():
    rel, root = people(200)
    kp2d = pixels(rel + root[:, None])
    rows = np.tile(K, (200, 1))
    solved = solve_root(rel, kp2d, np.ones((200, 17)), rows)
    np.testing.assert_allclose(solved, root, atol=1e-6)
    # 2 px of noise on 17 joints: the depth error stays a small fraction of the distance
    noisy = kp2d + np.random.default_rng(1).normal(0, 2.0, kp2d.shape)
    err = np.linalg.norm(solve_root(rel, noisy, np.ones((200, 17)), rows) - root, axis=-1)
    assert 0 < np.median(err / root[:, 2]) < 0.02
    # 5 % longer bones put the person 5 % further away (the scale is the skeleton's)
    scaled = solve_root(rel * 1.05, kp2d, np.ones((200, 17)), rows)
    np.testing.assert_allclose(scaled[:, 2] / root[:, 2], 1.05, atol=0.01)


def test_scores_weight_the_joints_and_a_zero_score_leaves_a_joint_out():
    rel, root = people(50, seed=3)
    kp2d = pixels(rel + root[:, None])
    kp2d[:, 5] += 300.0  # one joint detected far off
    weights = np.ones((50, 17))
    off = np.linalg.norm(solve_root(rel, kp2d, weights, np.tile(K, (50, 1))) - root, axis=-1)
    weights[:, 5] = 0.0
    left_out = np.linalg.norm(solve_root(rel, kp2d, weights, np.tile(K, (50, 1))) - root, axis=-1)
    assert off.min() > 10.0 and left_out.max() < 1e-6


def test_records_without_an_answer_are_nan_not_garbage():
    rel, root = people(5, seed=4)
    kp2d = pixels(rel + root[:, None])
    weights = np.ones((5, 17))
    rel[0, 3] = np.nan                      # one NaN joint: left out, still solved
    rel[1] = np.nan                         # a NaN pose
    weights[2, 1:] = 0.0                    # one joint is not enough
    kp2d[3] = np.inf                        # no 2D at all
    solved = solve_root(rel, kp2d, weights, np.tile(K, (5, 1)))
    np.testing.assert_allclose(solved[0], root[0], atol=1e-6)
    assert np.isnan(solved[1:4]).all() and np.isfinite(solved[4]).all()


def test_smoothing_follows_each_run_of_a_track_and_lowers_the_jitter():
    n = 60
    rel, _ = people(n, seed=5)
    t = np.arange(n)
    root = np.stack([np.linspace(-1000, 1000, n), np.full(n, 200.0), 4000 + 10 * t], axis=1)
    kp2d = pixels(rel + root[:, None]) + np.random.default_rng(6).normal(0, 3.0, (n, 17, 2))
    frame = np.concatenate([t[:30], t[30:] + 5])  # a gap: two runs
    track = np.zeros(n, int)
    assert [len(r) for r in runs_of_tracks(track, frame)] == [30, 30]
    raw = camera_space(rel, kp2d, np.ones((n, 17)), np.tile(K, (n, 1)), track=track, frame=frame)
    smooth = camera_space(rel, kp2d, np.ones((n, 17)), np.tile(K, (n, 1)), track=track, frame=frame,
                          sigma_frames=2.0)
    raw_err = np.linalg.norm(raw.root_cam_mm - root, axis=-1).mean()
    smooth_err = np.linalg.norm(smooth.root_cam_mm - root, axis=-1).mean()
    assert smooth_err < 0.75 * raw_err
    np.testing.assert_allclose(smooth.kp3d_cam_mm - smooth.root_cam_mm[:, None], rel, atol=1e-3)
    errors = camera_space_errors(smooth.root_cam_mm, smooth.kp3d_cam_mm, rel + root[:, None])
    assert errors["solved"] == n and abs(errors["root_error_mm"] - smooth_err) < 1e-3


def test_the_default_camera_has_the_frame_diagonal_as_focal_length():
    camera = default_intrinsics(1920, 1080)
    assert math.isclose(camera.fx, math.hypot(1920, 1080)) and (camera.cx, camera.cy) == (960, 540)
    assert math.isclose(DEFAULT_DIAGONAL_FOV_DEG, 53.130102, abs_tol=1e-5)
    wide = default_intrinsics(1920, 1080, 90.0)
    assert math.isclose(wide.fx, math.hypot(1920, 1080) / 2)
    rows = camera.rows(np.array([[1920, 1080], [640, 480]]))  # an image folder of mixed sizes
    np.testing.assert_allclose(rows[1], [800, 800, 320, 240])
    with pytest.raises(CameraError, match="between 1 and 179"):
        default_intrinsics(640, 480, 200.0)


def test_human36m_cameras_pickle_by_key_and_by_clip_name(tmp_path):
    camera = load_camera(SHARED_DATA / "h36m" / "cameras.pkl", key="S1,54138969")
    assert 1100 < camera.fx < 1200 and camera.width == 1000 and camera.up_cam is not None
    by_name = load_camera(SHARED_DATA / "h36m" / "cameras.pkl", clip_name="S1_Directions_1.54138969")
    assert by_name == camera
    camera.check_fits(1000, 1000, "S1 frames")  # a few rows off (Human3.6M has such pairs) is accepted
    with pytest.raises(CameraError, match="camera is for 1000x1002 frames but clip.mp4 has 640x480"):
        camera.check_fits(640, 480, "clip.mp4")
    with pytest.raises(CameraError, match="--camera-key"):
        load_camera(SHARED_DATA / "h36m" / "cameras.pkl")
    with pytest.raises(CameraError, match="no camera 'S1,1'"):
        load_camera(SHARED_DATA / "h36m" / "cameras.pkl", key="S1,1")
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(CameraError, match="bad.pkl: unreadable camera file"):
        load_camera(tmp_path / "bad.pkl")


def test_a_synthetic_clips_camera_json_projects_its_ground_truth(tmp_path):
    cameras = make_subject_cameras("S9", 0, (500, 500))
    cam = cameras[("S9", "54138969")]
    video = tmp_path / "S9_Walking.54138969.mp4"
    video.write_bytes(b"")
    camera_path(video).write_text(camera_json(cam))
    loaded = clip_intrinsics(video, video.stem, np.array([[500, 500]]))
    assert loaded.fx == pytest.approx(cam["f"][0, 0]) and loaded.cy == pytest.approx(cam["c"][1, 0])
    np.testing.assert_allclose(loaded.up_cam, cam["R"].T @ [0, 0, 1])
    # its projection and the solve agree: the root comes back from the camera's own 2D
    rel, root = people(3, seed=7)
    root[:, 2] = 4500
    kp2d = project((rel + root[:, None]) / 1000.0, cam)
    np.testing.assert_allclose(solve_root(rel, kp2d, np.ones((3, 17)), loaded.rows(np.full((3, 2), 500))), root,
                               atol=1e-6)
    with pytest.raises(CameraError, match="not both"):
        clip_intrinsics(video, video.stem, np.array([[500, 500]]), camera=camera_path(video), fov_deg=60.0)
    off_centre = {"f": [800, 800], "c": [900, 100]}
    (tmp_path / "off.json").write_text(json.dumps(off_centre))
    with pytest.raises(CameraError, match=r"principal point \(900.0, 100.0\) px lies outside"):
        clip_intrinsics(video, video.stem, np.array([[500, 500]]), camera=tmp_path / "off.json")
    assert clip_intrinsics(video, video.stem, np.array([[500, 500]]), fov_deg=60.0).default_fov_deg == 60.0
    with open(tmp_path / "one.pkl", "wb") as handle:
        pickle.dump(cam, handle)  # one camera entry as the whole pickle
    assert load_camera(tmp_path / "one.pkl").fx == pytest.approx(loaded.fx)


def test_the_accuracy_rows_score_the_solve_the_method_and_the_chain():
    from stages.export.root_accuracy import RootInputs, accuracy_rows

    n = 40
    rel, root = people(n, seed=8)
    truth = rel + root[:, None]
    gt2d = pixels(truth)
    detected = gt2d + np.random.default_rng(9).normal(0, 2.0, gt2d.shape)
    inputs = RootInputs(detected, np.ones((n, 17)), np.tile(K, (n, 1)), np.tile([1024, 1000], (n, 1)), truth,
                        np.zeros(n, int), np.arange(n), gt2d)
    rows = {row["input"].split(" (")[0]: row for row in accuracy_rows(inputs, rel * 1.1, sigmas=(2.0,))}
    assert rows["ground-truth 3D, ground-truth 2D"]["root_error_mm"] < 1e-3  # float32 rounding of metres-away roots
    method = rows["ground-truth 3D, detected 2D"]["root_error_pct_of_distance"]
    chain = rows["lifter 3D, detected 2D"]
    assert 0 < method < 2.0 < chain["root_error_pct_of_distance"] < 12.0  # 10 % too large: ~10 % too far
    assert chain["camera_mpjpe_mm"] > rows["ground-truth 3D, detected 2D"]["camera_mpjpe_mm"]
    assert len(rows) == 5 and all(row["solved"] == n for row in rows.values())
