"""The joint-angle sampler: exact bone lengths, anatomical bends, distinct modes, smooth sequences."""

import numpy as np
import pytest

from stages.synth.pose_sampler import MODES, PARAMS, pose_from_params, sample_params, sample_sequence
from stages.synth.skeleton import H36M_PARENTS, ground_snap, subject_bone_lengths, unit
from tests.stages.synth.test_retarget import assert_knees_bend_backwards

LENGTHS = subject_bone_lengths("S1", seed=0)


def _poses(mode: str, n: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    params = np.stack([sample_params(rng, mode) for _ in range(n)])
    return ground_snap(pose_from_params(params, rng.uniform(0, 360, size=n), LENGTHS))


@pytest.mark.parametrize("mode", sorted(MODES))
def test_bone_lengths_exact_and_body_on_floor(mode: str) -> None:
    joints = _poses(mode)
    bones = np.linalg.norm(joints[:, 1:] - joints[:, list(H36M_PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(bones, np.broadcast_to(LENGTHS[1:], bones.shape), rtol=1e-9)
    assert joints[..., 2].min() > -1e-6  # nothing below the floor ...
    assert np.all(joints[:, :, 2].min(axis=1) < 130)  # ... and something on it


def test_modes_differ_the_way_their_names_say() -> None:
    pelvis_z = {m: np.median(_poses(m)[:, 0, 2]) for m in ("stand", "sit_chair", "crouch")}
    assert pelvis_z["stand"] > 850 > pelvis_z["sit_chair"] > pelvis_z["crouch"]
    sit = _poses("sit_chair")
    thigh = unit(sit[:, 2] - sit[:, 1])
    assert np.median(np.abs(thigh[:, 2])) < 0.5  # thighs roughly horizontal when sitting
    reach = _poses("reach")
    assert np.median(reach[:, 16, 2] - reach[:, 14, 2]) > 0  # wrists above shoulders
    phone = _poses("phone")
    assert np.median(np.linalg.norm(phone[:, 16] - phone[:, 9], axis=-1)) < 200  # hand at the head


def test_knees_bend_backwards_and_elbows_forwards_in_the_sagittal_plane() -> None:
    assert_knees_bend_backwards(_poses("crouch"))
    # Elbow bent with no humeral rotation and the arm hanging: the wrist ends up in front.
    params = np.zeros((1, len(PARAMS)))
    params[0, PARAMS.index("r_elbow")] = 90.0
    joints = pose_from_params(params, np.zeros(1), LENGTHS)
    # Yaw 0 faces +y (world axes x right, y forward, z up): the forearm points straight ahead.
    np.testing.assert_allclose(joints[0, 16] - joints[0, 15], [0.0, LENGTHS[16], 0.0], atol=1e-9)


def test_sequences_are_smooth_and_seeded() -> None:
    a = sample_sequence(np.random.default_rng(3), ("stand", "gesture"), 48, LENGTHS)
    b = sample_sequence(np.random.default_rng(3), ("stand", "gesture"), 48, LENGTHS)
    np.testing.assert_array_equal(a, b)
    step = np.linalg.norm(np.diff(a, axis=0), axis=-1)
    jump = np.linalg.norm(a[np.random.default_rng(0).permutation(len(a))] - a, axis=-1)  # unrelated frames
    assert 0 < step.mean() < 0.5 * jump.mean() and step.max() < 350
