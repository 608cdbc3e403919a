"""The Human3.6M 17-joint skeleton used by the synthetic data: joint order, bone lengths, assembly.

Both pose sources (retargeted mocap and the joint-angle sampler) produce one unit direction per bone
plus a pelvis position; :func:`assemble` lays the subject's bone lengths along those directions. So
every synthetic subject has exactly constant bone lengths, like Human3.6M's own ground truth.

Body frame used by the sources (Human3.6M world axes, z up): x = the person's right, y = forward,
z = up, millimetres.
"""

from __future__ import annotations

import numpy as np

H36M_JOINTS: tuple[str, ...] = (
    "pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
)  # fmt: skip
H36M_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
H36M_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
H36M_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)

# Bone lengths (mm, indexed by the child joint; 0 for the pelvis) measured from the real Human3.6M
# ground truth in ../shared/data/h36m/test_h36m_body3d.npz (one frame each of S1, S5, S7, S8;
# Human3.6M bones are rigid per subject, so one frame gives the subject's lengths).
MEASURED_BONE_LENGTHS_MM: dict[str, tuple[float, ...]] = {
    "S1": (0, 133, 443, 454, 133, 443, 454, 233, 257, 121, 115, 151, 279, 252, 151, 279, 252),
    "S5": (0, 119, 428, 442, 119, 428, 442, 224, 254, 117, 115, 143, 265, 249, 143, 265, 249),
    "S7": (0, 136, 449, 438, 136, 449, 438, 226, 255, 107, 115, 140, 276, 247, 140, 276, 247),
    "S8": (0, 147, 452, 439, 147, 452, 439, 261, 251, 120, 115, 169, 290, 244, 169, 290, 244),
}

def _unit_const(v: list[float]) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64)
    return a / np.linalg.norm(a)


# Rest directions (body frame) of the bones whose direction the sources take from a rotation frame
# rather than from positions: shaped after the real S1 frame (the face joint sits forward of the
# thorax, the head top slightly behind it; shoulders below the thorax joint).
REST_DIR_SPINE = _unit_const([0.0, -0.12, 0.99])
REST_DIR_THORAX = _unit_const([0.0, 0.10, 0.99])
REST_DIR_NECK_NOSE = _unit_const([0.0, 0.65, 0.76])
REST_DIR_HEAD = _unit_const([0.0, -0.30, 0.95])
REST_DIR_RIGHT_SHOULDER = _unit_const([0.90, -0.10, -0.42])


def unit(v: np.ndarray) -> np.ndarray:
    """Normalise the last axis."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def subject_bone_lengths(subject: str, seed: int) -> np.ndarray:
    """(17,) bone lengths in mm for a subject.

    Subjects measured in the fixture keep their real lengths; the others get a random convex mix
    of the measured ones (deterministic in ``seed`` and the subject), so their proportions stay
    human while differing from every training subject.
    """
    if subject in MEASURED_BONE_LENGTHS_MM:
        return np.asarray(MEASURED_BONE_LENGTHS_MM[subject], dtype=np.float64)
    table = np.asarray(list(MEASURED_BONE_LENGTHS_MM.values()), dtype=np.float64)
    rng = np.random.default_rng([seed, 7, int(subject.lstrip("S"))])
    weights = rng.dirichlet(np.ones(len(table)))
    return weights @ table * rng.uniform(0.97, 1.03)


def assemble(pelvis_mm: np.ndarray, bone_dirs: np.ndarray, lengths_mm: np.ndarray) -> np.ndarray:
    """Lay bone lengths along bone directions, root to leaves.

    Args:
        pelvis_mm: (T, 3) pelvis positions.
        bone_dirs: (T, 17, 3) unit direction parent -> joint (row 0 unused).
        lengths_mm: (17,) bone lengths.
    Returns:
        (T, 17, 3) joint positions in mm.
    """
    joints = np.zeros(bone_dirs.shape, dtype=np.float64)
    joints[:, 0] = pelvis_mm
    for j in range(1, len(H36M_PARENTS)):  # parents precede children
        joints[:, j] = joints[:, H36M_PARENTS[j]] + lengths_mm[j] * bone_dirs[:, j]
    return joints


def bone_directions(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) joints -> (T, 17, 3) unit bone directions (row 0 zero)."""
    dirs = np.zeros_like(joints)
    parents = np.asarray(H36M_PARENTS[1:])
    dirs[:, 1:] = unit(joints[:, 1:] - joints[:, parents])
    return dirs


def mirror_left_right(joints: np.ndarray) -> np.ndarray:
    """Mirror poses across the world x = 0 plane and swap left/right labels: (T, 17, 3) -> same."""
    out = joints.copy()
    out[..., 0] *= -1.0
    left, right = list(H36M_LEFT), list(H36M_RIGHT)
    out[:, left + right] = out[:, right + left]
    return out


def body_frame(joints: np.ndarray) -> np.ndarray:
    """(T, 17, 3) joints -> (T, 3, 3) body frames, columns (right, forward, up).

    Right comes from the hips, up from pelvis -> thorax; used to orient feet and to test handedness.
    """
    right = unit(joints[:, 1] - joints[:, 4])
    up = joints[:, 8] - joints[:, 0]
    up = unit(up - np.sum(up * right, axis=-1, keepdims=True) * right)
    forward = np.cross(up, right)
    return np.stack([right, forward, up], axis=-1)


def ground_snap(joints: np.ndarray, floor_mm: float = 0.0) -> np.ndarray:
    """Shift each frame vertically so the body rests on the floor (z = floor_mm).

    The lowest support among ankles (80 mm above the sole), knees (kneeling, 60 mm) and the pelvis
    (sitting on the floor, 110 mm) touches the floor. (T, 17, 3) -> same.
    """
    support = np.stack(
        [joints[:, 3, 2] - 80.0, joints[:, 6, 2] - 80.0,
         joints[:, 2, 2] - 60.0, joints[:, 5, 2] - 60.0, joints[:, 0, 2] - 110.0], axis=1,
    )  # fmt: skip
    out = joints.copy()
    out[..., 2] -= (support.min(axis=1) - floor_mm)[:, None]
    return out
