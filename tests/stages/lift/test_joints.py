"""COCO -> H36M conversion, flip tables and 2D normalisation, checked against hand-computed values."""

import numpy as np
import pytest
import torch

from stages.lift.joints import (
    H36M_FLIP_PERM,
    H36M_LEFT,
    H36M_RIGHT,
    coco17_to_h36m17,
    flip_joints,
    image_coordinates,
    normalise_screen_coordinates,
)


def _coco_fixture() -> np.ndarray:
    """COCO joint i at (10 i, 100 + i): every joint distinguishable by its values."""
    i = np.arange(17, dtype=np.float64)
    return np.stack([10 * i, 100 + i], axis=-1)


# Worked out by hand from _coco_fixture (COCO indices in the comments).
EXPECTED_H36M = np.array([
    [115.0, 111.5],  # 0 pelvis = mid(l_hip 11, r_hip 12)
    [120.0, 112.0],  # 1 r_hip <- 12
    [140.0, 114.0],  # 2 r_knee <- 14
    [160.0, 116.0],  # 3 r_ankle <- 16
    [110.0, 111.0],  # 4 l_hip <- 11
    [130.0, 113.0],  # 5 l_knee <- 13
    [150.0, 115.0],  # 6 l_ankle <- 15
    [85.0, 108.5],   # 7 spine = mid(pelvis, thorax)
    [55.0, 105.5],   # 8 thorax = mid(l_sho 5, r_sho 6)
    [0.0, 100.0],    # 9 neck/nose <- nose 0
    [15.0, 101.5],   # 10 head = mid(l_eye 1, r_eye 2)
    [50.0, 105.0],   # 11 l_shoulder <- 5
    [70.0, 107.0],   # 12 l_elbow <- 7
    [90.0, 109.0],   # 13 l_wrist <- 9
    [60.0, 106.0],   # 14 r_shoulder <- 6
    [80.0, 108.0],   # 15 r_elbow <- 8
    [100.0, 110.0],  # 16 r_wrist <- 10
])


def test_coco_to_h36m_hand_values_numpy():
    out = coco17_to_h36m17(_coco_fixture())
    np.testing.assert_allclose(out, EXPECTED_H36M)


def test_coco_to_h36m_tensor_batched_and_scores():
    coco = torch.from_numpy(_coco_fixture())
    score = torch.linspace(0.1, 0.9, 17)[:, None].double()
    kp = torch.cat([coco, score], -1).expand(2, 3, 17, 3)  # (..., 17, 3): x, y, score
    out = coco17_to_h36m17(kp)
    assert out.shape == (2, 3, 17, 3) and isinstance(out, torch.Tensor)
    torch.testing.assert_close(out[1, 2, :, :2], torch.from_numpy(EXPECTED_H36M))
    s = score[:, 0]
    assert out[0, 0, 0, 2] == pytest.approx(float(s[11] + s[12]) / 2)  # pelvis: mean hip score
    assert out[0, 0, 9, 2] == pytest.approx(float(s[0]))
    # the input is not modified in place
    torch.testing.assert_close(kp[0, 0, :, :2], coco)


def test_coco_to_h36m_rejects_wrong_joint_count():
    with pytest.raises(ValueError):
        coco17_to_h36m17(np.zeros((16, 2)))


def test_left_right_tables_pair_matching_limbs():
    assert H36M_LEFT == (4, 5, 6, 11, 12, 13) and H36M_RIGHT == (1, 2, 3, 14, 15, 16)
    perm = list(H36M_FLIP_PERM)
    assert sorted(perm) == list(range(17))
    assert perm[4] == 1 and perm[1] == 4 and perm[13] == 16 and perm[16] == 13
    assert [perm[c] for c in (0, 7, 8, 9, 10)] == [0, 7, 8, 9, 10]  # centre joints stay


def test_flip_pixels_hand_values():
    kp = np.zeros((17, 2))
    kp[4] = (10.0, 50.0)   # left hip at x = 10
    kp[1] = (30.0, 51.0)   # right hip at x = 30
    kp[0] = (95.5, 40.0)   # pelvis
    out = flip_joints(kp, width=192)
    # the right hip slot now holds the old left hip, mirrored: 191 - 10
    np.testing.assert_allclose(out[1], (181.0, 50.0))
    np.testing.assert_allclose(out[4], (161.0, 51.0))
    np.testing.assert_allclose(out[0], (95.5, 40.0))  # the centre column maps to itself


def test_flip_centred_3d_is_involution_and_keeps_symmetric_pose():
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(5, 17, 3))
    np.testing.assert_allclose(flip_joints(flip_joints(pose)), pose)
    out = flip_joints(pose)
    np.testing.assert_allclose(out[:, 14, 0], -pose[:, 11, 0])
    np.testing.assert_allclose(out[:, 14, 1:], pose[:, 11, 1:])
    # a left/right mirror-symmetric pose is unchanged by the flip
    sym = np.zeros((17, 3))
    for left, right in zip(H36M_LEFT, H36M_RIGHT):
        sym[left] = rng.normal(size=3)
        sym[right] = sym[left] * (-1, 1, 1)
    sym[[0, 7, 8, 9, 10], 1:] = rng.normal(size=(5, 2))
    np.testing.assert_allclose(flip_joints(sym), sym)
    t = torch.from_numpy(pose)
    torch.testing.assert_close(flip_joints(t), torch.from_numpy(out))


def test_normalise_screen_coordinates_hand_values():
    kp = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0], [250.0, 0.0]])
    out = normalise_screen_coordinates(kp, 1000, 1002)
    np.testing.assert_allclose(out, [[-1.0, -1.002], [1.0, 1.002], [0.0, 0.0], [-0.5, -1.002]])
    np.testing.assert_allclose(image_coordinates(out, 1000, 1002), kp)
    t = normalise_screen_coordinates(torch.tensor(kp, dtype=torch.float32), 1000, 1002)
    torch.testing.assert_close(t, torch.tensor(out, dtype=torch.float32))


def test_normalise_screen_coordinates_rounds_once():
    """float32 joints in, the float64 result rounded once out (what the authors' pipeline computes):
    float32 arithmetic would land an ulp away in most coordinates."""
    kp = np.random.default_rng(0).uniform(0, 1000, (200, 17, 2)).astype(np.float32)
    exact = (kp.astype(np.float64) / 1000 * 2 - [1, 1002 / 1000]).astype(np.float32)
    out = normalise_screen_coordinates(kp, 1000, 1002)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, exact)
    np.testing.assert_array_equal(normalise_screen_coordinates(torch.from_numpy(kp), 1000, 1002).numpy(), exact)
    in_float32 = kp / np.float32(1000) * np.float32(2) - np.asarray([1, 1002 / 1000], np.float32)
    assert (in_float32 != exact).mean() > 0.1  # the test can tell the two apart


# --------------------------------------------------------------------------- MPI-INF-3DHP

def test_mpi3dhp_to_h36m_is_a_named_bijection():
    from stages.lift.joints import (H36M_JOINT_NAMES, MPI3DHP_JOINT_NAMES, MPI3DHP_ROOT_JOINT, MPI3DHP_TO_H36M,
                                    h36m17_to_mpi3dhp17, mpi3dhp17_to_h36m17)

    assert sorted(MPI3DHP_TO_H36M) == list(range(17))  # every 3DHP joint used once: nothing averaged or lost
    pairs = {h: MPI3DHP_JOINT_NAMES[m] for h, m in zip(H36M_JOINT_NAMES, MPI3DHP_TO_H36M)}
    assert pairs == {"pelvis": "pelvis", "r_hip": "r_hip", "r_knee": "r_knee", "r_ankle": "r_ankle",
                     "l_hip": "l_hip", "l_knee": "l_knee", "l_ankle": "l_ankle", "spine": "spine",
                     "thorax": "neck", "neck_nose": "head", "head": "head_top", "l_shoulder": "l_shoulder",
                     "l_elbow": "l_elbow", "l_wrist": "l_wrist", "r_shoulder": "r_shoulder",
                     "r_elbow": "r_elbow", "r_wrist": "r_wrist"}
    assert MPI3DHP_TO_H36M[0] == MPI3DHP_ROOT_JOINT == 14  # mmpose's root_index for 3DHP
    kp = np.random.default_rng(0).normal(size=(5, 17, 3))
    np.testing.assert_array_equal(h36m17_to_mpi3dhp17(mpi3dhp17_to_h36m17(kp)), kp)
    t = torch.tensor(kp)
    torch.testing.assert_close(mpi3dhp17_to_h36m17(t), torch.tensor(mpi3dhp17_to_h36m17(kp)))


def test_flipping_commutes_with_the_3dhp_mapping():
    """Left/right survive the mapping: mirroring in 3DHP's own order (its left/right tables) and
    mapping equals mapping and mirroring with the lifter's H36M tables."""
    from stages.lift.joints import MPI3DHP_JOINT_NAMES, mpi3dhp17_to_h36m17

    kp = np.random.default_rng(1).normal(size=(3, 17, 3))
    swap = list(range(17))
    for i, name in enumerate(MPI3DHP_JOINT_NAMES):
        if name.startswith("l_"):
            j = MPI3DHP_JOINT_NAMES.index("r_" + name[2:])
            swap[i], swap[j] = j, i
    mirrored = kp[:, swap].copy()
    mirrored[..., 0] *= -1
    np.testing.assert_allclose(mpi3dhp17_to_h36m17(mirrored), flip_joints(mpi3dhp17_to_h36m17(kp)))
