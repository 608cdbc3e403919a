"""Metric tests on hand-computed cases; mmpose (installed by `make setup`) serves as an oracle."""

from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from stages.lift.metrics import (
    AUC_THRESHOLDS_MM, H36M_ACTIONS, action_of, auc3d, consecutive_pairs, evaluate_3dhp,
    evaluate_h36m, mpjpe, mpjve, n_mpjpe, p_mpjpe, pck3d, per_video_errors, procrustes_align,
)

H36M_NPZ = Path(__file__).resolve().parents[3].parent / "shared/data/h36m/test_h36m_body3d.npz"


def _real_gt_mm() -> np.ndarray:
    """Four real Human3.6M poses `(4, 17, 3)` in camera-frame mm (the shared sample ships with the
    project: a missing file fails the test)."""
    return np.load(H36M_NPZ)["S"][:, :, :3] * 1000.0


def _rot_z(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _rot_x(deg: float) -> np.ndarray:
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


# --------------------------------------------------------------------------- MPJPE family

def test_mpjpe_of_known_offsets():
    gt = np.zeros((2, 2, 3))
    pred = gt.copy()
    pred[0, 0] = (3.0, 4.0, 0.0)    # 5 mm
    pred[0, 1] = (0.0, 0.0, 10.0)   # 10 mm
    pred[1] += (6.0, 8.0, 0.0)      # 10 mm on both joints
    np.testing.assert_allclose(mpjpe(pred, gt), [7.5, 10.0])
    assert mpjpe(pred, gt).mean() == pytest.approx(8.75)


def test_p_mpjpe_removes_rotation_scale_translation():
    gt = _real_gt_mm()
    rot = _rot_z(35.0) @ _rot_x(-20.0)
    pred = 1.3 * gt @ rot.T + np.array([120.0, -40.0, 900.0])
    assert np.all(p_mpjpe(pred, gt) < 1e-6)
    assert np.all(mpjpe(pred, gt) > 100.0)
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-6)


def test_p_mpjpe_does_not_undo_a_reflection():
    """A mirrored pose is a different pose: the standard P-MPJPE keeps det(R) = +1."""
    gt = _real_gt_mm()
    gt = gt - gt.mean(axis=1, keepdims=True)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert np.all(p_mpjpe(mirrored, gt) > 10.0)


def test_procrustes_reaches_the_least_squares_optimum():
    """No rotation/scale/translation found by a generic optimiser beats the closed form."""
    rng = np.random.default_rng(3)
    gt = _real_gt_mm()[:1]
    pred = 0.8 * gt @ _rot_z(50.0).T + 30.0 + rng.normal(scale=40.0, size=gt.shape)
    sse_closed = float(((procrustes_align(pred, gt) - gt) ** 2).sum())

    def sse(params: np.ndarray) -> float:
        rot = Rotation.from_rotvec(params[:3]).as_matrix()
        moved = np.exp(params[3]) * pred[0] @ rot.T + params[4:] * 100.0
        return float(((moved - gt[0]) ** 2).sum())

    best = min(minimize(sse, np.r_[rv, 0.0, 0.0, 0.0, 0.0], method="BFGS").fun
               for rv in (np.zeros(3), np.array([0.0, 0.0, -0.9]), np.array([0.5, -0.5, 0.3])))
    assert sse_closed <= best * (1 + 1e-6)
    assert sse_closed == pytest.approx(best, rel=1e-4)


def test_p_mpjpe_with_noise_is_below_mpjpe():
    rng = np.random.default_rng(1)
    gt = np.repeat(_real_gt_mm(), 50, axis=0)
    noisy = gt + rng.normal(scale=20.0, size=gt.shape)
    # Pure noise: alignment can only fit a little of it away.
    assert p_mpjpe(noisy, gt).mean() <= mpjpe(noisy, gt).mean()
    assert p_mpjpe(noisy, gt).mean() > 0.8 * mpjpe(noisy, gt).mean()
    # Noise plus a rigid error: MPJPE pays for the rigid part, P-MPJPE does not.
    moved = noisy @ _rot_z(10.0).T + 50.0
    assert np.all(p_mpjpe(moved, gt) <= mpjpe(moved, gt))
    np.testing.assert_allclose(p_mpjpe(moved, gt), p_mpjpe(noisy, gt), rtol=1e-9)


def test_n_mpjpe_removes_scale_only():
    gt = _real_gt_mm()
    assert np.all(n_mpjpe(0.5 * gt, gt) < 1e-9)
    assert np.all(n_mpjpe(gt + 100.0, gt) > 1.0)


def test_numpy_metrics_agree_with_mmpose():
    from mmpose.evaluation import functional
    rng = np.random.default_rng(2)
    gt = np.repeat(_real_gt_mm(), 5, axis=0)
    pred = 0.9 * gt @ _rot_z(15.0).T + rng.normal(scale=30.0, size=gt.shape)
    mask = np.ones(gt.shape[:2], dtype=bool)
    for ours, alignment in ((mpjpe, "none"), (p_mpjpe, "procrustes"), (n_mpjpe, "scale")):
        theirs = functional.keypoint_mpjpe(pred, gt, mask, alignment=alignment)
        assert ours(pred, gt).mean() == pytest.approx(float(theirs), rel=1e-9)


# --------------------------------------------------------------------------- Human3.6M

def test_action_of_real_h36m_names():
    cases = {
        "S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg": "Directions",
        "S5/S5_SittingDown.54138969/S5_SittingDown.54138969_002061.jpg": "SittingDown",
        "S9_Walking_1.54138969": "Walking",
        "S11_Walking.60457274": "Walking",
        "S8_WalkDog_1.55011271_000026.jpg": "WalkDog",
        "S1_TakingPhoto_1.58860488": "Photo",
        "S9_Photo.58860488": "Photo",
        "S1_WalkingDog.60457274": "WalkDog",
        "S6_WalkTogether_1.54138969": "WalkTogether",
        "S11_Phoning_2.60457274": "Phoning",
        "Directions 1": "Directions",
        "Eating 2": "Eating",
        "TakingPhoto 1": "Photo",
    }
    for name, action in cases.items():
        assert action_of(name) == action, name
    names = np.load(H36M_NPZ)["imgname"]
    assert [action_of(n) for n in names] == ["Directions", "SittingDown", "Greeting", "WalkDog"]
    # Idempotent on the canonical names, so evaluate_h36m accepts either.
    assert [action_of(a) for a in H36M_ACTIONS] == list(H36M_ACTIONS)


def test_per_action_and_frame_weighted_means_differ_on_unbalanced_data():
    gt = np.repeat(_real_gt_mm()[:1], 4, axis=0)
    pred = gt.copy()
    # Offsets on the 16 non-root joints only, so root-relative subtraction keeps them:
    # per-frame MPJPE = offset * 16 / 17.
    pred[:3, 1:, 0] += 17.0   # three Walking frames at 16 mm
    pred[3, 1:, 1] += 34.0    # one Eating frame at 32 mm
    actions = ["S9_Walking_1.54138969", "S9_Walking_1.54138969", "S11_Walking.60457274", "Eating 2"]
    m = evaluate_h36m(pred, gt, actions)
    assert list(m["per_action"]) == ["Eating", "Walking"]  # canonical order
    assert m["per_action"]["Walking"]["num_frames"] == 3
    assert m["per_action"]["Walking"]["mpjpe"] == pytest.approx(16.0)
    assert m["per_action"]["Eating"]["mpjpe"] == pytest.approx(32.0)
    assert m["mpjpe"] == pytest.approx((16.0 + 32.0) / 2)              # paper: mean of actions
    assert m["mpjpe_frame_weighted"] == pytest.approx((3 * 16.0 + 32.0) / 4)  # mmpose: frames
    assert m["per_joint_mpjpe"][0] == 0.0
    np.testing.assert_allclose(m["per_joint_mpjpe"][1:], (3 * 17.0 + 34.0) / 4)
    assert m["num_frames"] == 4 and m["mpjve"] is None
    assert m["p_mpjpe"] <= m["mpjpe"]


def test_evaluate_h36m_is_root_relative_unless_told_otherwise():
    gt = _real_gt_mm()
    shifted = gt + np.array([10.0, 20.0, -50.0])
    actions = ["Walking"] * len(gt)
    assert evaluate_h36m(shifted, gt, actions)["mpjpe"] == pytest.approx(0.0, abs=1e-9)
    raw = evaluate_h36m(shifted, gt, actions, already_root_relative=True)
    assert raw["mpjpe"] == pytest.approx(np.sqrt(10**2 + 20**2 + 50**2))


def test_evaluate_h36m_mmpose_backend_matches_numpy():
    rng = np.random.default_rng(4)
    gt = np.repeat(_real_gt_mm(), 3, axis=0)
    pred = gt + rng.normal(scale=25.0, size=gt.shape)
    actions = ["Directions", "Greeting", "Walking"] * 4
    ours = evaluate_h36m(pred, gt, actions)
    theirs = evaluate_h36m(pred, gt, actions, backend="mmpose")
    for key in ("mpjpe", "p_mpjpe"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-9)


# --------------------------------------------------------------------------- MPJVE

def test_mpjve_zero_for_constant_offset_and_known_for_known_velocity_error():
    gt = np.repeat(_real_gt_mm()[:1], 5, axis=0) + np.arange(5)[:, None, None] * 7.0
    videos, frames = ["v"] * 5, np.arange(5)
    assert mpjve(gt + np.array([5.0, -3.0, 40.0]), gt, videos, frames) == pytest.approx(0.0, abs=1e-9)
    drift = gt + np.arange(5)[:, None, None] * np.array([3.0, 4.0, 0.0])  # 5 mm/frame too fast
    assert mpjve(drift, gt, videos, frames) == pytest.approx(5.0)


def test_mpjve_pairs_only_consecutive_frames_of_one_video():
    videos = np.array(["a", "a", "a", "a", "b", "b", "a"])
    frames = np.array([2, 0, 1, 5, 6, 7, 6])  # shuffled rows; a has 0,1,2 and 5,6; b has 6,7
    first, second = consecutive_pairs(videos, frames)
    pairs = {(videos[i], frames[i], frames[j]) for i, j in zip(first, second)}
    assert pairs == {("a", 0, 1), ("a", 1, 2), ("a", 5, 6), ("b", 6, 7)}
    # Velocity error 10 mm/frame on every pair: pred moves 10 mm per frame along z, gt is still.
    gt = np.zeros((7, 17, 3))
    pred = gt.copy()
    pred[..., 2] = frames[:, None] * 10.0
    assert mpjve(pred, gt, videos, frames) == pytest.approx(10.0)
    assert mpjve(pred[:3], gt[:3], ["a", "b", "c"], [0, 1, 2]) is None
    m = evaluate_h36m(pred, gt, ["Walking"] * 7, videos, frames, already_root_relative=True)
    assert m["mpjve"] == pytest.approx(10.0)
    assert m["per_action"]["Walking"]["mpjve"] == pytest.approx(10.0)


def test_per_video_errors_in_frame_order():
    videos = np.array(["b", "a", "a", "b", "a", "b"])
    frames = np.array([1, 2, 0, 0, 1, 3])  # shuffled; b has 0, 1 and 3 (a gap)
    gt = np.zeros((6, 17, 3))
    pred = gt.copy()
    pred[:, 1:, 0] = frames[:, None] * 4.0 + (videos == "b")[:, None] * 2.0  # non-root joints drift 4 mm/frame
    out = per_video_errors(pred, gt, videos, frames)
    assert list(out) == ["a", "b"]
    assert out["a"] == {"mpjpe": pytest.approx(16 / 17 * 4.0), "mpjve": pytest.approx(16 / 17 * 4.0),
                        "num_frames": 3, "first_frame": 0, "last_frame": 2}
    assert out["b"]["mpjve"] == pytest.approx(16 / 17 * 4.0)  # only the 0 -> 1 pair: 3 follows a gap
    assert out["b"]["mpjpe"] == pytest.approx(16 / 17 * (2 + 6 + 14) / 3)
    assert per_video_errors(pred[:1], gt[:1], ["x"], [0])["x"]["mpjve"] is None


# --------------------------------------------------------------------------- MPI-INF-3DHP

def test_pck_and_auc_on_hand_made_distances():
    distances = np.array([0.0, 40.0, 100.0, 149.0, 150.0, 200.0])
    gt = np.zeros((1, 6, 3))
    pred = gt.copy()
    pred[0, :, 0] = distances
    assert pck3d(pred, gt) == pytest.approx(100.0 * 4 / 6)  # strictly below 150 mm
    # Thresholds 0, 5, ..., 150 that each distance is strictly below: 30, 22, 10, 1, 0, 0.
    assert len(AUC_THRESHOLDS_MM) == 31
    assert auc3d(pred, gt) == pytest.approx(100.0 * (30 + 22 + 10 + 1) / (31 * 6))


def test_3dhp_groups_by_scene_activity_and_sequence():
    """Per-group PCK/AUC/MPJPE are the overall formulas on each group's frames; groups come in the
    table order (scenes GS, noGS, outdoor; activities by code) whatever order the frames are in."""
    rng = np.random.default_rng(4)
    gt = rng.normal(scale=300.0, size=(12, 17, 3))
    pred = gt + rng.normal(scale=80.0, size=gt.shape)
    scenes = np.array(["outdoor", "green screen", "no green screen"] * 4)
    activities = np.array(["Sports", "Sitting", "Standing/Walking", "Sitting"] * 3)
    sequences = np.array([f"TS{i % 6 + 1}" for i in range(12)])
    m = evaluate_3dhp(pred, gt, scenes=scenes, activities=activities, sequences=sequences)
    assert list(m["per_scene"]) == ["green screen", "no green screen", "outdoor"]
    assert list(m["per_activity"]) == ["Standing/Walking", "Sitting", "Sports"]
    assert list(m["per_sequence"]) == [f"TS{i}" for i in range(1, 7)]
    for key, labels in (("per_scene", scenes), ("per_activity", activities), ("per_sequence", sequences)):
        for name, row in m[key].items():
            sel = labels == name
            alone = evaluate_3dhp(pred[sel], gt[sel])
            assert row["num_frames"] == sel.sum()
            for metric in ("pck150", "auc", "mpjpe"):
                assert row[metric] == pytest.approx(alone[metric]), (key, name, metric)
    with pytest.raises(ValueError, match="3 scene labels for 12 frames"):
        evaluate_3dhp(pred, gt, scenes=scenes[:3])


def test_3dhp_pck_auc_match_the_test_sets_own_definition():
    """PCK/AUC against a direct transcription of the test set's mpii_compute_3d_pck (errors strictly
    below each threshold of 0:5:150), over its 14 joints and, under *_17j, over all 17."""
    rng = np.random.default_rng(5)
    gt = rng.normal(scale=300.0, size=(9, 17, 3))
    pred = gt + rng.normal(scale=70.0, size=gt.shape)
    m = evaluate_3dhp(pred, gt)
    err = np.linalg.norm((pred - pred[:, :1]) - (gt - gt[:, :1]), axis=-1).T  # (joints, frames) as in MATLAB
    curve = [np.sum(err < t) / err.size for t in range(0, 155, 5)]
    assert m["pck150_17j"] == pytest.approx(100 * np.sum(err < 150) / err.size)
    assert m["auc_17j"] == pytest.approx(100 * np.mean(curve))
    scored = err[[10, 8, 14, 11, 15, 12, 16, 13, 1, 4, 2, 5, 3, 6]]  # the 14 joints, Human3.6M slots
    assert m["pck150"] == pytest.approx(100 * np.sum(scored < 150) / scored.size)
    assert m["auc"] == pytest.approx(100 * np.mean([np.sum(scored < t) / scored.size for t in range(0, 155, 5)]))
