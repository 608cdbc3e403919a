"""Head frame and face landmarks derived from the Human3.6M thorax, face and head-top joints.

Both pose sources build the thorax->face and face->head-top bones from one head rotation and the
rest directions in :mod:`stages.synth.skeleton`, so that rotation can be recovered exactly from the
three joints. The renderer draws the head, eyes, nose and ears from it, and the COCO annotations use
the same landmarks, so what the detector is asked to find is what the image shows.
"""

from __future__ import annotations

import numpy as np

from stages.synth.skeleton import REST_DIR_HEAD, REST_DIR_NECK_NOSE, unit

HEAD_RADIUS_MM = 95.0
# Head-sphere centre relative to the face joint, in head-frame (right, forward, up) mm: behind and
# above it, so the face joint sits on the front of the head (it is the nose tip) and the head-top
# joint lies on the sphere's upper front.
HEAD_CENTRE_FROM_NOSE_MM = np.array([0.0, -85.0, 30.0])
# Unit directions from the head centre (head frame) to the landmarks on the head's surface.
EYE_DIR_RIGHT = unit(np.array([0.35, 0.85, 0.40]))
EAR_DIR_RIGHT = unit(np.array([0.98, -0.12, 0.0]))
_MIRROR_X = np.array([-1.0, 1.0, 1.0])

_REST_YZ = np.array([REST_DIR_NECK_NOSE[1:], REST_DIR_HEAD[1:]])  # rows: (fwd, up) of each bone


def head_frame(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) joints -> (..., 3, 3) head rotation, columns (right, forward, up).

    Inverts ``thorax->face = R @ REST_DIR_NECK_NOSE`` and ``face->top = R @ REST_DIR_HEAD``: both rest
    directions lie in the head's forward/up plane, so their images give the forward and up axes by a
    2x2 solve, and their cross product the right axis.
    """
    a = unit(joints[..., 9, :] - joints[..., 8, :])
    b = unit(joints[..., 10, :] - joints[..., 9, :])
    inv = np.linalg.inv(_REST_YZ)  # [a; b] = REST_YZ @ [fwd; up]
    forward = inv[0, 0] * a + inv[0, 1] * b
    up = inv[1, 0] * a + inv[1, 1] * b
    right = unit(np.cross(forward, up))
    up = unit(up - np.sum(up * right, axis=-1, keepdims=True) * right)
    forward = np.cross(up, right)
    return np.stack([right, forward, up], axis=-1)


def face_landmarks(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Head centre and face landmarks, (..., 3) each, in the joints' frame and units (mm).

    Keys: head_centre, nose (= the face joint 9), left_eye, right_eye, left_ear, right_ear, and the
    head axes right, forward, up (unit vectors).
    """
    frame = head_frame(joints)
    nose = joints[..., 9, :]
    centre = nose + frame @ HEAD_CENTRE_FROM_NOSE_MM
    out = {"head_centre": centre, "nose": nose,
           "right": frame[..., :, 0], "forward": frame[..., :, 1], "up": frame[..., :, 2]}  # fmt: skip
    for side, mirror in (("right", np.ones(3)), ("left", _MIRROR_X)):
        out[f"{side}_eye"] = centre + HEAD_RADIUS_MM * (frame @ (EYE_DIR_RIGHT * mirror))
        out[f"{side}_ear"] = centre + HEAD_RADIUS_MM * (frame @ (EAR_DIR_RIGHT * mirror))
    return out
