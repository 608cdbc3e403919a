"""Camera conventions: proven on the real Human3.6M fixture, then checked on the synthetic cameras."""

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from stages.synth.cameras import H36M_CAMERA_IDS, make_subject_cameras, project, world_to_camera

H36M = Path(__file__).resolve().parents[4] / "shared" / "data" / "h36m"


def test_convention_reproduces_the_real_fixture() -> None:
    """X_cam = R.T (X_world - T) maps the real world joints onto the real camera-frame S."""
    cameras = pickle.loads((H36M / "cameras.pkl").read_bytes())
    ann = np.load(H36M / "test_h36m_body3d.npz")
    coco = json.loads((H36M / "h36m_coco.json").read_text())
    for i, a in enumerate(coco["annotations"]):
        world = np.asarray(a["keypoints_3d"]).reshape(17, 4)[:, :3]
        name = str(ann["imgname"][i])
        cam = cameras[(name.split("/")[0], name.split(".")[1].split("/")[0])]
        np.testing.assert_allclose(world_to_camera(world, cam), ann["S"][i, :, :3], atol=1e-5)
        # Real cameras have lens distortion; the pinhole part alone is within a few pixels.
        assert np.abs(project(ann["S"][i, :, :3], cam) - ann["part"][i, :, :2]).max() < 3.0


def test_synthetic_cameras_look_like_the_real_ones() -> None:
    real = pickle.loads((H36M / "cameras.pkl").read_bytes())[("S1", "54138969")]
    cams = make_subject_cameras("S9", seed=0, image_size=(500, 500))
    assert sorted(cams) == [("S9", c) for c in H36M_CAMERA_IDS]
    for (subject, cam_id), cam in cams.items():
        assert set(cam) == set(real)
        for key, value in real.items():
            assert type(cam[key]) is type(value), key
            if isinstance(value, np.ndarray):
                assert cam[key].shape == value.shape and cam[key].dtype == value.dtype, key
        assert cam["id"] == cam_id and cam["w"] == 500 and cam["h"] == 500
        np.testing.assert_allclose(cam["R"].T @ cam["R"], np.eye(3), atol=1e-12)
        assert np.linalg.det(cam["R"]) == pytest.approx(1.0)
        assert np.abs(cam["f"] - 572.5).max() < 10 and not cam["k"].any() and not cam["p"].any()
        distance = np.linalg.norm(cam["T"][:2, 0])
        assert 3.5 <= distance <= 6.0 and 0.5 <= cam["T"][2, 0] <= 2.8
        # The capture area's centre at hip height is in front of the camera, near the image centre.
        centre = world_to_camera(np.array([0.0, 0.0, 1.0]), cam)
        assert centre[2] > 3.0
        assert np.abs(project(centre, cam) - cam["c"][:, 0]).max() < 100
        # World up looks up in the image (camera y axis points down).
        top, bottom = world_to_camera(np.array([[0, 0, 1.8], [0, 0, 0.0]]), cam)
        assert project(top, cam)[1] < project(bottom, cam)[1]


def test_cameras_are_deterministic_per_seed() -> None:
    a = make_subject_cameras("S1", seed=4, image_size=(500, 500))
    b = make_subject_cameras("S1", seed=4, image_size=(500, 500))
    c = make_subject_cameras("S1", seed=5, image_size=(500, 500))
    key = ("S1", H36M_CAMERA_IDS[0])
    np.testing.assert_array_equal(a[key]["R"], b[key]["R"])
    assert not np.allclose(a[key]["T"], c[key]["T"])
