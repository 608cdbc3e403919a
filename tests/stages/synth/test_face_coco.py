"""Head frame recovery and the COCO keypoints derived from it."""

import numpy as np

from stages.synth.bvh import axis_rotation
from stages.synth.coco import COCO_KEYPOINTS, h36m_to_coco_3d
from stages.synth.face import face_landmarks, head_frame
from stages.synth.pose_sampler import PARAMS, pose_from_params
from stages.synth.skeleton import REST_DIR_HEAD, REST_DIR_NECK_NOSE, subject_bone_lengths

LENGTHS = subject_bone_lengths("S1", seed=0)


def test_head_frame_inverts_the_head_rotation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        angles = rng.uniform(-np.pi, np.pi, size=3)
        rot = axis_rotation("Z", angles[0]) @ axis_rotation("X", angles[1]) @ axis_rotation("Y", angles[2])
        joints = np.zeros((17, 3))
        joints[8] = rng.normal(size=3)
        joints[9] = joints[8] + 121.0 * rot @ REST_DIR_NECK_NOSE
        joints[10] = joints[9] + 115.0 * rot @ REST_DIR_HEAD
        np.testing.assert_allclose(head_frame(joints), rot, atol=1e-9)


def test_face_sits_on_the_front_of_the_head() -> None:
    params = np.zeros((2, len(PARAMS)))
    params[1, PARAMS.index("neck_twist")] = 60.0  # turn the head towards the left shoulder
    joints = pose_from_params(params, np.zeros(2), LENGTHS)  # facing +y, right = +x
    face = face_landmarks(joints)
    np.testing.assert_allclose(face["forward"][0], [0, 1, 0], atol=1e-9)
    assert face["left_eye"][0, 0] < face["nose"][0, 0] < face["right_eye"][0, 0]
    assert face["left_ear"][0, 0] < face["left_eye"][0, 0] and face["right_ear"][0, 0] > face["right_eye"][0, 0]
    assert face["left_eye"][0, 2] > face["nose"][0, 2]  # eyes above the nose
    # The head-top joint lies on the head sphere, so drawing and joints agree.
    radius = np.linalg.norm(joints[:, 10] - face["head_centre"], axis=-1)
    assert np.all(np.abs(radius - 95.0) < 5.0)
    # Positive neck twist turns the face to the person's left (-x).
    assert face["forward"][1, 0] < -0.8


def test_coco_keypoints_map_the_body_joints_one_to_one() -> None:
    rng = np.random.default_rng(1)
    joints = pose_from_params(rng.uniform(-20, 20, size=(3, len(PARAMS))), np.zeros(3), LENGTHS)
    coco = h36m_to_coco_3d(joints)
    assert coco.shape == (3, 17, 3)
    h36m = {"left_shoulder": 11, "right_shoulder": 14, "left_elbow": 12, "right_elbow": 15,
            "left_wrist": 13, "right_wrist": 16, "left_hip": 4, "right_hip": 1, "left_knee": 5,
            "right_knee": 2, "left_ankle": 6, "right_ankle": 3, "nose": 9}  # fmt: skip
    for name, j in h36m.items():
        np.testing.assert_array_equal(coco[:, COCO_KEYPOINTS.index(name)], joints[:, j])
