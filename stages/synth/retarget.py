"""Retarget a BVH clip (CMU 31-joint or MocapBank 19-joint) onto the Human3.6M 17-joint skeleton.

Limb bones keep the mocap's directions (hip->knee->ankle, shoulder->elbow->wrist) and get the
Human3.6M subject's lengths. The trunk and head joints have no exact counterpart in either mocap
skeleton (Human3.6M's "spine" and "thorax" are marker-derived points), so their bones take the
skeleton's rest directions (:mod:`stages.synth.skeleton`) rotated by the mocap's own lower-back,
chest, pelvis and head rotations. The head rotation is what places the face joint in front of the
skull, which is also where the rendered face and the COCO face keypoints go.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.synth.bvh import BvhClip, forward_kinematics
from stages.synth.skeleton import (
    REST_DIR_HEAD,
    REST_DIR_NECK_NOSE,
    REST_DIR_RIGHT_SHOULDER,
    REST_DIR_SPINE,
    REST_DIR_THORAX,
    assemble,
    unit,
)

# BVH world (y up, rest pose facing +z, left = +x) -> Human3.6M world (z up): (x, y, z) -> (x, -z, y).
BVH_TO_H36M_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
# Body frame (x right, y forward, z up) -> BVH rest axes (left +x, up +y, forward +z).
BODY_TO_BVH_REST = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class BvhJointMap:
    """Which BVH joints stand for which Human3.6M bones."""

    name: str
    right_limbs: tuple[str, str, str, str, str, str]  # hip, knee, ankle, shoulder, elbow, wrist
    left_limbs: tuple[str, str, str, str, str, str]
    pelvis_frame: str  # its rotation places the hips
    lower_back_frame: str  # rotates pelvis -> spine
    chest_frame: str  # rotates spine -> thorax and the shoulders
    head_frame: str  # rotates thorax -> face -> head top
    toe_ends: tuple[str, str]  # right, left: used only to check handedness in tests


CMU_MAP = BvhJointMap(
    name="cmu",
    right_limbs=("RightUpLeg", "RightLeg", "RightFoot", "RightArm", "RightForeArm", "RightHand"),
    left_limbs=("LeftUpLeg", "LeftLeg", "LeftFoot", "LeftArm", "LeftForeArm", "LeftHand"),
    pelvis_frame="Hips",
    lower_back_frame="LowerBack",
    chest_frame="Spine1",
    head_frame="Head",
    toe_ends=("RightToeBase_End", "LeftToeBase_End"),
)
MOCAPBANK_MAP = BvhJointMap(
    name="mocapbank",
    right_limbs=("RightHip", "RightKnee", "RightAnkle", "RightShoulder", "RightElbow", "RightWrist"),
    left_limbs=("LeftHip", "LeftKnee", "LeftAnkle", "LeftShoulder", "LeftElbow", "LeftWrist"),
    pelvis_frame="Hips",
    lower_back_frame="Chest",
    chest_frame="Chest2",
    head_frame="Head",
    toe_ends=("RightAnkle_End", "LeftAnkle_End"),
)


def detect_joint_map(clip: BvhClip) -> BvhJointMap:
    """Pick the joint map whose names the clip contains."""
    for joint_map in (CMU_MAP, MOCAPBANK_MAP):
        needed = (*joint_map.right_limbs, *joint_map.left_limbs, joint_map.head_frame,
                  joint_map.lower_back_frame, joint_map.chest_frame, joint_map.pelvis_frame)  # fmt: skip
        if all(n in clip.names for n in needed):
            return joint_map
    raise ValueError(f"unknown BVH skeleton with joints {clip.names[:8]}...")


def retarget_to_h36m(clip: BvhClip, lengths_mm: np.ndarray) -> np.ndarray:
    """Map every frame of a clip to Human3.6M joints with the given bone lengths.

    Args:
        clip: a parsed CMU or MocapBank clip.
        lengths_mm: (17,) bone lengths (:func:`stages.synth.skeleton.subject_bone_lengths`).
    Returns:
        (T, 17, 3) joints in mm, Human3.6M world axes (z up); the trajectory is the clip's, scaled
        so its legs match ``lengths_mm``. Not yet placed on the floor or centred.
    """
    joint_map = detect_joint_map(clip)
    pos_bvh, rot_bvh = forward_kinematics(clip)
    pos = pos_bvh @ BVH_TO_H36M_WORLD.T  # (T, J, 3), file units

    def p(name: str) -> np.ndarray:
        return pos[:, clip.index(name)]

    def frame(name: str) -> np.ndarray:  # (T, 3, 3) body frame in Human3.6M world axes
        return BVH_TO_H36M_WORLD @ rot_bvh[:, clip.index(name)] @ BODY_TO_BVH_REST

    r_hip, r_knee, r_ankle, r_sho, r_elb, r_wri = (p(n) for n in joint_map.right_limbs)
    l_hip, l_knee, l_ankle, l_sho, l_elb, l_wri = (p(n) for n in joint_map.left_limbs)
    pelvis, lower, chest, head = (frame(n) for n in (joint_map.pelvis_frame,
                                  joint_map.lower_back_frame, joint_map.chest_frame, joint_map.head_frame))  # fmt: skip

    dirs = np.zeros((clip.n_frames, 17, 3))
    right_axis = pelvis[:, :, 0]
    dirs[:, 1], dirs[:, 4] = right_axis, -right_axis
    dirs[:, 2], dirs[:, 3] = unit(r_knee - r_hip), unit(r_ankle - r_knee)
    dirs[:, 5], dirs[:, 6] = unit(l_knee - l_hip), unit(l_ankle - l_knee)
    dirs[:, 7] = lower @ REST_DIR_SPINE
    dirs[:, 8] = chest @ REST_DIR_THORAX
    dirs[:, 9] = head @ REST_DIR_NECK_NOSE
    dirs[:, 10] = head @ REST_DIR_HEAD
    dirs[:, 14] = chest @ REST_DIR_RIGHT_SHOULDER
    dirs[:, 11] = chest @ (REST_DIR_RIGHT_SHOULDER * np.array([-1.0, 1.0, 1.0]))
    dirs[:, 12], dirs[:, 13] = unit(l_elb - l_sho), unit(l_wri - l_elb)
    dirs[:, 15], dirs[:, 16] = unit(r_elb - r_sho), unit(r_wri - r_elb)

    # One scale for the whole clip: Human3.6M leg length over the mocap's median leg length.
    leg_bvh = np.linalg.norm(r_knee - r_hip, axis=-1) + np.linalg.norm(r_ankle - r_knee, axis=-1)
    scale = (lengths_mm[2] + lengths_mm[3]) / float(np.median(leg_bvh))
    pelvis_mm = 0.5 * (r_hip + l_hip) * scale
    return assemble(pelvis_mm, dirs, lengths_mm)
