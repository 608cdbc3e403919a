"""predictions.h5 and results_<name>.json: shapes, units, and mmpose's body3d demo layout."""

import json

import h5py
import numpy as np

from stages.infer.outputs import Predictions, to_mmpose_demo_axes, write_predictions_h5, write_results_json


def _preds(gt: bool = True) -> Predictions:
    rng = np.random.default_rng(0)
    r = 5
    kp3d = rng.uniform(-500, 500, (r, 17, 3)).astype(np.float32) + 4000
    return Predictions(frame=np.array([0, 0, 1, 3, 3]), track=np.array([1, 0, 0, 0, 1]),
                       box=rng.uniform(0, 100, (r, 4)).astype(np.float32), box_score=np.full(r, 0.7, np.float32),
                       kp2d=rng.uniform(0, 100, (r, 17, 2)).astype(np.float32),
                       kp2d_score=rng.uniform(0, 1, (r, 17)).astype(np.float32), kp3d_mm=kp3d,
                       gt3d_mm=kp3d + 10 if gt else None,
                       attrs={"checkpoint_sha256": "ab" * 32, "store_key": "0123456789ab", "mpjpe_mm": 12.5,
                              "levels": ["0", "1"]})


def test_predictions_are_root_relative_and_frames_list_records_by_track():
    preds = _preds()
    assert np.abs(preds.kp3d_mm[:, 0]).max() == 0 and np.abs(preds.gt3d_mm[:, 0]).max() == 0
    assert preds.at_frame(0).tolist() == [1, 0] and preds.at_frame(2).tolist() == []


def test_h5_reopens_with_the_documented_shapes_and_attributes(tmp_path):
    preds = _preds()
    write_predictions_h5(tmp_path / "p.h5", preds)
    with h5py.File(tmp_path / "p.h5", "r") as f:
        shapes = {name: f[name].shape for name in f}
        assert shapes == {"frame": (5,), "track": (5,), "box": (5, 4), "box_score": (5,), "kp2d": (5, 17, 2),
                          "kp2d_score": (5, 17), "kp3d": (5, 17, 3), "gt3d": (5, 17, 3)}
        assert f["kp3d"].attrs["units"] == "mm" and f["box"].attrs["units"] == "px"
        assert f.attrs["checkpoint_sha256"] == "ab" * 32 and f.attrs["store_key"] == "0123456789ab"
        assert f.attrs["mpjpe_mm"] == 12.5 and json.loads(f.attrs["levels"]) == ["0", "1"]
        assert list(f.attrs["joint_names"])[0] == "pelvis"
        np.testing.assert_array_equal(f["kp3d"][:], preds.kp3d_mm)
    write_predictions_h5(tmp_path / "q.h5", _preds(gt=False))
    with h5py.File(tmp_path / "q.h5", "r") as f:
        assert "gt3d" not in f


def test_results_json_has_mmpose_body3d_demo_layout(tmp_path):
    preds = _preds()
    write_results_json(tmp_path / "r.json", preds, num_frames=4, single_image=False)
    doc = json.loads((tmp_path / "r.json").read_text())
    assert set(doc) == {"meta_info", "instance_info"}
    assert doc["meta_info"]["dataset_name"] == "h36m" and doc["meta_info"]["num_keypoints"] == 17
    assert [f["frame_id"] for f in doc["instance_info"]] == [1, 2, 3, 4]  # every frame, counted from 1
    assert [len(f["instances"]) for f in doc["instance_info"]] == [2, 1, 0, 2]
    first = doc["instance_info"][0]["instances"][0]
    assert {"keypoints", "keypoint_scores", "bbox", "bbox_score", "track_id"} <= set(first)
    assert first["track_id"] == 0 and np.asarray(first["keypoints"]).shape == (17, 3)
    expected = to_mmpose_demo_axes(preds.kp3d_mm[1])
    np.testing.assert_allclose(first["keypoints"], expected, atol=1e-6)
    assert abs(np.min(np.asarray(first["keypoints"])[:, 2])) < 1e-9  # stands on its lowest joint
    write_results_json(tmp_path / "one.json", preds, num_frames=1, single_image=True)
    single = json.loads((tmp_path / "one.json").read_text())
    assert isinstance(single["instance_info"], list) and len(single["instance_info"]) == 2
    assert "keypoints" in single["instance_info"][0]


def test_demo_axes_are_metres_with_height_up():
    pose = np.zeros((17, 3))
    pose[10] = [100.0, -1700.0, 300.0]  # head: 1.7 m above the pelvis (camera y points down), 0.3 m farther
    out = to_mmpose_demo_axes(pose)
    np.testing.assert_allclose(out[10], [-0.1, 0.3, 1.7])
    np.testing.assert_allclose(out[0], [0.0, 0.0, 0.0])
