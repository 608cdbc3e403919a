"""Report tests: files exist and parse, the table has the paper's columns and the right numbers."""

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from stages.lift.metrics import evaluate_3dhp, evaluate_h36m
from stages.lift.report import (
    format_comparison_table, pick_frames, to_jsonable, write_report,
)

H36M_DIR = Path(__file__).resolve().parents[3].parent / "shared/data/h36m"
PAPER_COLUMNS = ["Protocol", "Dir.", "Disc.", "Eat", "Greet", "Phone", "Photo", "Pose", "Purch.",
                 "Sit", "SitD.", "Smoke", "Wait", "WalkD.", "Walk", "WalkT.", "Avg"]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.fixture(scope="module")
def real_frames():
    """The four real H36M frames: gt `(4, 17, 3)` mm, 2D joints `(4, 17, 2)` px, image paths."""
    data = np.load(H36M_DIR / "test_h36m_body3d.npz")  # ships with the project: missing fails
    images = [H36M_DIR / name for name in data["imgname"]]
    return data["S"][:, :, :3] * 1000.0, data["part"][:, :, :2], images, list(data["imgname"])


def test_write_report_h36m(tmp_path, real_frames):
    gt, kp2d, images, names = real_frames
    pred = gt + np.random.default_rng(0).normal(scale=(15.0, 15.0, 60.0), size=gt.shape)
    frame = np.arange(len(gt))
    metrics = evaluate_h36m(pred, gt, names, video_ids=["v"] * len(gt), frame_numbers=frame)
    written = write_report(metrics, tmp_path / "out", pred_mm=pred, gt_mm=gt, kp2d=kp2d,
                           images=images, title="unit test")

    assert set(written) == {"metrics", "table", "per_joint_error", "skeletons"}
    for path in written.values():
        assert path.exists() and path.stat().st_size > 0
    saved = json.loads((tmp_path / "out/metrics.json").read_text())
    assert saved["mpjpe"] == pytest.approx(metrics["mpjpe"])
    assert saved["per_action"]["Greeting"]["num_frames"] == 1

    lines = (tmp_path / "out/table.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| Protocol"))
    assert _cells(lines[header]) == PAPER_COLUMNS
    p1, p2 = _cells(lines[header + 2]), _cells(lines[header + 3])
    assert p1[0] == "MPJPE (P1)" and p2[0] == "P-MPJPE (P2)"
    col = {name: i for i, name in enumerate(PAPER_COLUMNS)}
    assert p1[col["Greet"]] == f"{metrics['per_action']['Greeting']['mpjpe']:.1f}"
    assert p2[col["WalkD."]] == f"{metrics['per_action']['WalkDog']['p_mpjpe']:.1f}"
    assert p1[col["Eat"]] == "–"  # the four frames hold no Eating
    assert p1[col["Avg"]] == f"{metrics['mpjpe']:.1f}"
    assert any("Frame-weighted" in line and f"{metrics['mpjpe_frame_weighted']:.1f}" in line
               for line in lines)

    skeletons = imread(tmp_path / "out/skeletons.png")
    assert skeletons.shape[0] > skeletons.shape[1]  # one row per frame, four rows
    bars = imread(tmp_path / "out/per_joint_error.png")
    assert bars.shape[1] > bars.shape[0] and bars[..., :3].std() > 0.05  # not blank


def test_write_report_3dhp_has_a_table2_shaped_table(tmp_path):
    rng = np.random.default_rng(1)
    gt = rng.normal(scale=300.0, size=(8, 17, 3))
    scenes = ["green screen", "no green screen", "outdoor", "outdoor"] * 2
    activities = ["Sports", "Sitting"] * 4
    metrics = evaluate_3dhp(gt + rng.normal(scale=50.0, size=gt.shape), gt, scenes=scenes, activities=activities)
    written = write_report(metrics, tmp_path, title="CA-PF-HRNet-32")
    assert set(written) == {"metrics", "table"}
    lines = (tmp_path / "table.md").read_text().splitlines()
    assert lines[2] == "| Model | PCK ↑ | AUC ↑ | MPJPE (mm) ↓ |"
    assert _cells(lines[4]) == ["CA-PF-HRNet-32", f"{metrics['pck150']:.1f}", f"{metrics['auc']:.1f}",
                                f"{metrics['mpjpe']:.1f}"]
    header = next(line for line in lines if line.startswith("| Metric | GS"))
    assert _cells(header) == ["Metric", "GS", "noGS", "Outdoor", "All"]
    row = lines[lines.index(header) + 2]
    assert _cells(row)[1:] == [f"{metrics['per_scene'][s]['pck150']:.1f}" for s in
                               ("green screen", "no green screen", "outdoor")] + [f"{metrics['pck150']:.1f}"]
    assert any(_cells(line)[:3] == ["Metric", "Sitting", "Sports"] for line in lines if line.startswith("|"))
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["per_scene"]["outdoor"]["num_frames"] == 4


def test_to_jsonable_handles_numpy_and_nan():
    out = to_jsonable({"a": np.float32(1.5), "b": np.nan, "c": np.arange(2), "d": (np.int64(3),)})
    assert out == {"a": 1.5, "b": None, "c": [0, 1], "d": [3]}
    json.dumps(out, allow_nan=False)


def test_format_comparison_table():
    table = format_comparison_table({
        "step 0 (PoseFormer)": dict(mpjpe=50.06, p_mpjpe=40.01, flops_per_frame=446.0e6),
        "step 3 (CA-PF)": dict(mpjpe=41.34, p_mpjpe=33.27, flops_per_frame=609.9e6,
                               params=14_094_147),
    }).splitlines()
    assert _cells(table[0]) == ["Model", "MPJPE (mm)", "P-MPJPE (mm)", "MFLOPs/frame", "Params (M)"]
    assert _cells(table[2]) == ["step 0 (PoseFormer)", "50.1", "40.0", "446.0", "–"]
    assert _cells(table[3]) == ["step 3 (CA-PF)", "41.3", "33.3", "609.9", "14.09"]


def test_pick_frames_spans_best_to_worst():
    gt = np.zeros((10, 17, 3))
    pred = gt.copy()
    errors = np.array([5, 1, 9, 3, 7, 2, 8, 4, 6, 0], dtype=float)
    pred[:, 1:, 0] = errors[:, None]
    frames = pick_frames(pred, gt)
    assert frames[0] == 9 and frames[-1] == 2  # smallest and largest error
    assert len(frames) == 4
