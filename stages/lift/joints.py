"""Joint layouts and the 2D input normalisation of the lifting stage.

Everything that depends on *which joint is which* lives here, in one tested place:

* COCO-17 (what mmpose's top-down detectors output) -> Human3.6M-17 (what the lifter predicts),
* MPI-INF-3DHP's 17 test joints <-> Human3.6M-17 (a permutation, :func:`mpi3dhp17_to_h36m17`),
* the Human3.6M left/right tables used by flip augmentation and flip-test averaging,
* the screen-coordinate normalisation of VideoPose3D / PoseFormer / CA-PF.

Human3.6M-17 order (VideoPose3D): 0 pelvis, 1 r-hip, 2 r-knee, 3 r-ankle, 4 l-hip, 5 l-knee,
6 l-ankle, 7 spine, 8 thorax, 9 neck/nose, 10 head, 11 l-shoulder, 12 l-elbow, 13 l-wrist,
14 r-shoulder, 15 r-elbow, 16 r-wrist.

COCO-17 order: 0 nose, 1 l-eye, 2 r-eye, 3 l-ear, 4 r-ear, 5 l-shoulder, 6 r-shoulder, 7 l-elbow,
8 r-elbow, 9 l-wrist, 10 r-wrist, 11 l-hip, 12 r-hip, 13 l-knee, 14 r-knee, 15 l-ankle, 16 r-ankle.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)

NUM_JOINTS = 17
H36M_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)
COCO_JOINT_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
MPI3DHP_JOINT_NAMES: tuple[str, ...] = (
    "head_top", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist",
    "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "pelvis", "spine", "head",
)
ROOT_JOINT = 0  # pelvis: the 3D targets are relative to it

# Left/right tables of the H36M layout (the authors' and VideoPose3D's flip augmentation).
H36M_LEFT: tuple[int, ...] = (4, 5, 6, 11, 12, 13)
H36M_RIGHT: tuple[int, ...] = (1, 2, 3, 14, 15, 16)

# H36M joints that are a single COCO joint: h36m index -> coco index.
_COCO_DIRECT: dict[int, int] = {
    1: 12, 2: 14, 3: 16,      # right leg
    4: 11, 5: 13, 6: 15,      # left leg
    9: 0,                     # neck/nose <- nose
    11: 5, 12: 7, 13: 9,      # left arm
    14: 6, 15: 8, 16: 10,     # right arm
}


def _flip_permutation(num_joints: int = NUM_JOINTS) -> list[int]:
    """Index list that swaps every left joint with its right partner (centre joints stay)."""
    perm = list(range(num_joints))
    for left, right in zip(H36M_LEFT, H36M_RIGHT):
        perm[left], perm[right] = right, left
    return perm


H36M_FLIP_PERM: tuple[int, ...] = tuple(_flip_permutation())

# MPI-INF-3DHP's 17 evaluation joints (the test set's order, mmpose's `joints_17` of the 28 mocap
# joints, named as in mmpose's configs/_base_/datasets/mpi_inf_3dhp.py) in the H36M-17 slots: h36m index -> 3dhp index. Pelvis = root (14), spine = spine (15),
# thorax = 3DHP neck (1), neck/nose = 3DHP head (16), head = 3DHP head top (0); limbs by name.
MPI3DHP_TO_H36M: tuple[int, ...] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)
H36M_TO_MPI3DHP: tuple[int, ...] = tuple(MPI3DHP_TO_H36M.index(k) for k in range(NUM_JOINTS))
MPI3DHP_ROOT_JOINT = 14


def coco17_to_h36m17(kp: ArrayLike) -> ArrayLike:
    """Convert COCO-17 joints to the Human3.6M-17 layout.

    The standard construction (mmpose's ``convert_keypoint_definition`` for COCO -> H36M, also used
    by VideoPose3D-style in-the-wild demos): pelvis = mid-hips, thorax = mid-shoulders,
    spine = mid(pelvis, thorax), neck/nose = the COCO nose, head = mid-eyes; the limbs are copied.
    Head = mid-eyes is an approximation (H36M's head joint sits higher, near the crown): we keep it
    because it is what every public COCO->H36M lifter pipeline uses, so numbers stay comparable,
    and the bias is consistent, so a lifter trained on converted joints absorbs it.

    Works on any trailing coordinate size D (2D joints, 2D + score, 3D): every column is averaged
    the same way, so a score column becomes the mean score of the joints it was built from.

    Args:
        kp: ``(..., 17, D)`` COCO-ordered joints, numpy array or torch tensor.
    Returns:
        ``(..., 17, D)`` H36M-ordered joints of the same type, dtype and device.
    """
    if kp.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected 17 COCO joints on axis -2, got shape {tuple(kp.shape)}")
    out = kp.clone() if isinstance(kp, torch.Tensor) else np.array(kp, copy=True)
    h36m_idx = list(_COCO_DIRECT)
    coco_idx = [_COCO_DIRECT[i] for i in h36m_idx]
    out[..., h36m_idx, :] = kp[..., coco_idx, :]
    pelvis = (kp[..., 11, :] + kp[..., 12, :]) / 2
    thorax = (kp[..., 5, :] + kp[..., 6, :]) / 2
    out[..., 0, :] = pelvis
    out[..., 8, :] = thorax
    out[..., 7, :] = (pelvis + thorax) / 2
    out[..., 10, :] = (kp[..., 1, :] + kp[..., 2, :]) / 2
    return out


def mpi3dhp17_to_h36m17(kp: ArrayLike) -> ArrayLike:
    """Reorder MPI-INF-3DHP's 17 joints into the Human3.6M-17 order the lifter is trained in.

    Why H36M order and not 3DHP's own: the lifter, its flip tables (left 4,5,6,11,12,13), the root
    (joint 0), the bones of the plots and the detector's COCO -> H36M conversion are all written
    for one layout, and the usual 3DHP correspondence (the one cross-dataset H36M <-> 3DHP work
    uses) is a bijection: every 3DHP joint gets exactly one H36M slot, nothing is averaged or
    dropped. So a store holds 3DHP's own labels, only in other rows; converting back with
    :func:`h36m17_to_mpi3dhp17` is exact, and PCK, AUC and MPJPE over all 17 joints are the same
    numbers in either order. The slots' names differ slightly in meaning (3DHP's "neck" sits where
    H36M's thorax is, its "head" near H36M's neck/nose joint): a lifter trained on 3DHP labels
    learns 3DHP's definitions in those slots.

    Args:
        kp: ``(..., 17, D)`` in 3DHP order (:data:`MPI3DHP_JOINT_NAMES`).
    Returns:
        ``(..., 17, D)`` in H36M-17 order, same type.
    """
    if kp.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected 17 MPI-INF-3DHP joints on axis -2, got shape {tuple(kp.shape)}")
    return kp[..., list(MPI3DHP_TO_H36M), :]


def h36m17_to_mpi3dhp17(kp: ArrayLike) -> ArrayLike:
    """Inverse of :func:`mpi3dhp17_to_h36m17`: ``(..., 17, D)`` H36M order -> 3DHP order."""
    if kp.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected 17 H36M joints on axis -2, got shape {tuple(kp.shape)}")
    return kp[..., list(H36M_TO_MPI3DHP), :]


JOINT_FORMATS = ("coco17", "h36m17")  # what a store's 2D source can be: the detector's, or external H36M


def as_h36m17(kp: ArrayLike, joint_format: str) -> ArrayLike:
    """Joints of a store's 2D source in the lifter's H36M-17 layout.

    ``"coco17"`` (the detector's own joints) goes through :func:`coco17_to_h36m17`; ``"h36m17"``
    (external detections, already in that order) is returned as is.
    """
    if joint_format == "coco17":
        return coco17_to_h36m17(kp)
    if joint_format == "h36m17":
        return kp
    raise ValueError(f"unknown joint format {joint_format!r}; expected one of {JOINT_FORMATS}")


def flip_joints(kp: ArrayLike, *, width: float | None = None) -> ArrayLike:
    """Mirror joints horizontally and swap left/right labels (H36M-17 layout).

    Args:
        kp: ``(..., 17, D)`` with D >= 2; column 0 is x, other columns are kept.
        width: ``None`` for centred coordinates (normalised 2D, root-relative 3D): x -> -x.
            A pixel width ``w`` for pixel coordinates of an image being flipped: x -> (w - 1) - x,
            because pixel centres sit at integers 0..w-1 (the authors' crop joints: 191 - x).
    Returns:
        The flipped joints, same shape and type. Flipping twice gives the input back.
    """
    if kp.shape[-2] != NUM_JOINTS:
        raise ValueError(f"expected 17 H36M joints on axis -2, got shape {tuple(kp.shape)}")
    out = kp[..., list(H36M_FLIP_PERM), :]
    out = out.clone() if isinstance(out, torch.Tensor) else np.array(out, copy=True)
    out[..., 0] = -out[..., 0] if width is None else (width - 1) - out[..., 0]
    return out


def normalise_screen_coordinates(kp_px: ArrayLike, width: float, height: float) -> ArrayLike:
    """Pixels -> the lifter's 2D input: ``X / w * 2 - [1, h / w]``.

    x maps [0, w] to [-1, 1] and y is scaled by the same factor (aspect kept), centred on the
    image centre, as in VideoPose3D, PoseFormer and CA-PF.

    Computed in float64 and rounded once to the input's dtype: the correctly rounded value, bit for
    bit the authors' 2D input. Float32 arithmetic lands an ulp away in most coordinates: nothing for
    a trained lifter, but enough to spoil an exact comparison with the authors' outputs.

    Args:
        kp_px: ``(..., 2)`` joints in image pixels (x, y).
    Returns:
        ``(..., 2)`` normalised joints, same type and dtype.
    """
    if kp_px.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) pixel coordinates, got shape {tuple(kp_px.shape)}")
    shift = [1.0, height / width]
    if isinstance(kp_px, torch.Tensor):
        wide = kp_px.double() if kp_px.device.type != "mps" else kp_px  # MPS has no float64
        return (wide / width * 2 - wide.new_tensor(shift)).to(kp_px.dtype)
    wide = np.asarray(kp_px, dtype=np.float64)
    out = wide / width * 2 - np.asarray(shift, dtype=np.float64)
    return out.astype(kp_px.dtype if np.issubdtype(kp_px.dtype, np.floating) else np.float64)


def image_coordinates(kp_norm: ArrayLike, width: float, height: float) -> ArrayLike:
    """Inverse of :func:`normalise_screen_coordinates`: ``(..., 2)`` normalised -> pixels."""
    if kp_norm.shape[-1] != 2:
        raise ValueError(f"expected (..., 2) coordinates, got shape {tuple(kp_norm.shape)}")
    shift = [1.0, height / width]
    if isinstance(kp_norm, torch.Tensor):
        return (kp_norm + kp_norm.new_tensor(shift)) * width / 2
    return (kp_norm + np.asarray(shift, dtype=kp_norm.dtype)) * width / 2
