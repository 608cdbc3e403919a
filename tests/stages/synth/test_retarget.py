"""Retargeting real mocap to Human3.6M: right lengths, right handedness, human proportions."""

from pathlib import Path

import numpy as np
import pytest

from stages.synth.bvh import forward_kinematics, parse_bvh
from stages.synth.face import head_frame
from stages.synth.retarget import BVH_TO_H36M_WORLD, detect_joint_map, retarget_to_h36m
from stages.synth.skeleton import H36M_PARENTS, body_frame, subject_bone_lengths, unit

MOCAP = Path(__file__).resolve().parents[4] / "shared" / "data" / "mocap"
CLIPS = ("cmu_12_01_walk.bvh", "cmu_style_example.bvh", "mocapbank_example.bvh")


@pytest.fixture(scope="module", params=CLIPS)
def retargeted(request):
    clip = parse_bvh(MOCAP / request.param)
    lengths = subject_bone_lengths("S9", seed=0)  # a mixed, unmeasured subject
    return clip, lengths, retarget_to_h36m(clip, lengths)


def test_bone_lengths_are_the_subjects(retargeted) -> None:
    _, lengths, joints = retargeted
    bones = np.linalg.norm(joints[:, 1:] - joints[:, list(H36M_PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(bones, np.broadcast_to(lengths[1:], bones.shape), rtol=1e-9)
    assert 100 < lengths[1] < 160 and 400 < lengths[2] < 470 and 230 < lengths[12] < 300


def test_left_and_right_are_not_swapped(retargeted) -> None:
    """The body's forward axis (from hips and spine) points where the mocap's toes point."""
    clip, _, joints = retargeted
    joint_map = detect_joint_map(clip)
    pos = forward_kinematics(clip)[0] @ BVH_TO_H36M_WORLD.T
    toes = unit(pos[:, clip.index(joint_map.toe_ends[0])] - pos[:, clip.index(joint_map.right_limbs[2])])
    forward = body_frame(joints)[:, :, 1]
    assert np.median(np.sum(toes * forward, axis=-1)) > 0.5
    # The right hip is on the body's right: (right hip - left hip) . right axis > 0 by construction,
    # so check instead that the face looks the same way as the body.
    face_forward = head_frame(joints)[:, :, 1]
    assert np.median(np.sum(face_forward * forward, axis=-1)) > 0.5


def test_proportions_are_human(retargeted) -> None:
    _, _, joints = retargeted
    standing_height = (joints[:, 10, 2] - joints[:, [3, 6], 2].min(axis=1)).max()
    assert 1300 < standing_height < 1900
    assert_knees_bend_backwards(joints)


def assert_knees_bend_backwards(joints: np.ndarray) -> None:
    """Where a knee is bent (> 30 deg), its hinge axis thigh x shin points to the body's left."""
    right = body_frame(joints)[:, :, 0]
    n_bent = 0
    for hip, knee, ankle in ((1, 2, 3), (4, 5, 6)):
        thigh, shin = unit(joints[:, knee] - joints[:, hip]), unit(joints[:, ankle] - joints[:, knee])
        bent = np.sum(thigh * shin, axis=-1) < np.cos(np.deg2rad(30))
        n_bent += int(bent.sum())
        assert (np.sum(np.cross(thigh, shin) * right, axis=-1)[bent] < 0).all()
    assert n_bent > 0
