"""MPI-INF-3DHP figures as the test set's MATLAB evaluation computes them, on a hand-made error table.

The expected numbers below were worked out by hand from `mpii_compute_3d_pck.m` /
`mpii_evaluate_errors.m`: a joint counts under a threshold when its error is strictly below it;
PCK@150 and the AUC (mean PCK over 0, 5, ..., 150 mm) are pooled over the 14 joints of
`mpii_get_pck_auc_joint_groups.m` and the frames; MPJPE over all 17 joints. A joint with error e in
[0, 150) is under 30 - floor(e / 5) of the 31 thresholds.
"""

from __future__ import annotations

import numpy as np
import pytest

from stages.common.joint_sets import MPI3DHP_JOINT_NAMES
from stages.lift.evaluate import compute_metrics, resolve_reroot
from stages.lift.joints import mpi3dhp17_to_h36m17
from stages.lift.metrics import evaluate_3dhp

# Joint errors (mm) in the test set's 17-joint order (head top, neck, r-shoulder, r-elbow, r-wrist,
# l-shoulder, l-elbow, l-wrist, r-hip, r-knee, r-ankle, l-hip, l-knee, l-ankle, pelvis, spine, head).
ERRORS_MM = np.array([
    [10, 20, 30, 60, 140, 40, 80, 160, 0, 50, 100, 5, 150, 200, 0, 10, 12],   # frame 1, TS1
    [0, 0, 0, 0, 300, 0, 0, 300, 0, 0, 0, 0, 0, 0, 0, 0, 0],                  # frame 2, TS5
], dtype=np.float64)


def _poses(errors_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root-relative ground truth and a prediction off by exactly ``errors_mm`` per joint: whole
    millimetres along one axis per joint, so every error is exact (most sit on a threshold)."""
    rng = np.random.default_rng(0)
    gt = rng.integers(-400, 400, size=(*errors_mm.shape, 3)).astype(np.float64)
    gt -= gt[:, 14:15]
    axis = np.eye(3)[rng.integers(0, 3, size=errors_mm.shape)]
    return gt + errors_mm[..., None] * axis * rng.choice([-1.0, 1.0], size=(*errors_mm.shape, 1)), gt


def test_the_matlab_figures_of_a_hand_made_error_table():
    pred, gt = _poses(ERRORS_MM)
    m = evaluate_3dhp(pred, gt, joint_order="3dhp", already_root_relative=True, sequences=["TS1", "TS5"])
    # PCK: frame 1 misses l-wrist 160, l-knee 150 (not < 150), l-ankle 200; frame 2 both wrists.
    assert m["pck150"] == pytest.approx(100 * 23 / 28)                      # 82.14
    # AUC: frame 1's 14 scored joints sit under 28+26+24+18+2+22+14+0+30+20+10+29+0+0 = 223
    # thresholds, frame 2's under 12 x 30 = 360; 28 joint-frames x 31 thresholds.
    assert m["auc"] == pytest.approx(100 * 583 / 868)                       # 67.17
    assert m["mpjpe"] == pytest.approx((1067 + 600) / 34)                   # 49.03, all 17 joints
    # All 17 joints: the pelvis (0), spine (10, 0) and head (12, 0) add 6 hits and 86 + 90 thresholds.
    assert m["pck150_17j"] == pytest.approx(100 * 29 / 34)                  # 85.29
    assert m["auc_17j"] == pytest.approx(100 * 759 / 1054)                  # 72.01
    groups = m["per_joint_group"]
    assert list(groups) == ["head_top", "neck", "shoulders", "elbows", "wrists", "hips", "knees", "ankles"]
    expected = {"head_top": (100, 58 / 62), "neck": (100, 56 / 62), "shoulders": (100, 106 / 124),
                "elbows": (100, 92 / 124), "wrists": (25, 2 / 124), "hips": (100, 119 / 124),
                "knees": (75, 80 / 124), "ankles": (75, 70 / 124)}
    for name, (pck, auc) in expected.items():
        assert groups[name]["pck150"] == pytest.approx(pck), name
        assert groups[name]["auc"] == pytest.approx(100 * auc), name
    # the total is the joint-weighted mean of the groups (mpii_compute_3d_pck's 'Total' column)
    sizes = {"head_top": 1, "neck": 1}
    weighted = sum(groups[g]["pck150"] * sizes.get(g, 2) for g in groups) / 14
    assert weighted == pytest.approx(m["pck150"])
    ts1, ts5 = m["per_sequence"]["TS1"], m["per_sequence"]["TS5"]
    assert (ts1["pck150"], ts1["auc"], ts1["mpjpe"]) == pytest.approx((100 * 11 / 14, 100 * 223 / 434, 1067 / 17))
    assert (ts5["pck150"], ts5["auc"], ts5["mpjpe"]) == pytest.approx((100 * 12 / 14, 100 * 360 / 434, 600 / 17))
    assert ts5["per_joint_group"]["wrists"]["pck150"] == 0.0 and ts1["num_frames"] == 1


def test_the_store_order_gives_the_same_figures():
    """A CAPF store holds the joints in Human3.6M order: the groups follow them there."""
    pred, gt = _poses(ERRORS_MM)
    own = evaluate_3dhp(pred, gt, joint_order="3dhp")
    stored = evaluate_3dhp(mpi3dhp17_to_h36m17(pred), mpi3dhp17_to_h36m17(gt))
    for key in ("pck150", "auc", "mpjpe", "pck150_17j", "auc_17j"):
        assert stored[key] == pytest.approx(own[key]), key
    for name, group in own["per_joint_group"].items():
        assert stored["per_joint_group"][name] == pytest.approx(group), name


def test_the_scored_joints_leave_out_pelvis_spine_and_head():
    """Error only on the three unscored joints: the 14-joint figures stay perfect, the 17-joint ones drop."""
    errors = np.zeros((1, 17))
    for name in ("pelvis", "spine", "head"):
        errors[0, MPI3DHP_JOINT_NAMES.index(name)] = 400.0
    pred, gt = _poses(errors)
    m = evaluate_3dhp(pred, gt, joint_order="3dhp", already_root_relative=True)
    assert (m["pck150"], m["auc"]) == pytest.approx((100.0, 100.0 * 30 / 31))  # 0 mm: under all thresholds but 0
    assert m["pck150_17j"] == pytest.approx(100 * 14 / 17)


def test_root_handling_the_authors_way_on_3dhp():
    """A prediction exact but for a pelvis 50 mm off (30, 40, 0): the authors' 3DHP evaluation zeroes
    the predicted pelvis (0 mm); re-rooting moves every other joint by it (16 x 50 mm); scoring raw
    counts the pelvis alone (50 mm on 1 of 17 joints). 'auto' is the authors' way on 3DHP only."""
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=300.0, size=(4, 17, 3)) + np.array([0.0, 0.0, 4000.0])
    pred = gt - gt[:, :1]
    pred[:, 0] = [30.0, 40.0, 0.0]
    labels = {"scene": np.array(["green screen"] * 4)}
    auto = compute_metrics(pred, gt, labels, "mpi_inf_3dhp")
    assert resolve_reroot("auto", "mpi_inf_3dhp") == "zero_root" and resolve_reroot("auto", "h36m") is True
    assert auto["mpjpe"] == pytest.approx(0.0, abs=1e-9) and auto["pck150"] == 100.0
    assert compute_metrics(pred, gt, labels, "mpi_inf_3dhp", reroot=True)["mpjpe"] == pytest.approx(50 * 16 / 17)
    assert compute_metrics(pred, gt, labels, "mpi_inf_3dhp", reroot=False)["mpjpe"] == pytest.approx(50 / 17)
    with pytest.raises(ValueError, match="eval.reroot must be one of"):
        compute_metrics(pred, gt, labels, "mpi_inf_3dhp", reroot="sometimes")
