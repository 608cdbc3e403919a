"""COCO-17 keypoints from the synthetic Human3.6M joints, and the COCO-style annotation file.

Body keypoints map one to one; the face ones (nose, eyes, ears) are the landmarks the renderer draws
(:mod:`stages.synth.face`); the COCO nose is Human3.6M joint 9, as in mmpose's standard
COCO -> Human3.6M conversion. The file is what mmpose's ``CocoDataset`` reads to train a top-down
detector on the synthetic images.
"""

from __future__ import annotations

import numpy as np

from stages.synth.face import face_landmarks

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_SKELETON_1BASED: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8), (7, 9),
    (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
# Human3.6M joint index for each COCO body keypoint (shoulders ... ankles).
_H36M_FOR_COCO_BODY = (11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3)


def h36m_to_coco_3d(joints: np.ndarray) -> np.ndarray:
    """(..., 17, 3) Human3.6M joints -> (..., 17, 3) COCO keypoints in the same frame and units."""
    face = face_landmarks(joints)
    head = [face[k] for k in ("nose", "left_eye", "right_eye", "left_ear", "right_ear")]
    return np.concatenate([np.stack(head, axis=-2), joints[..., _H36M_FOR_COCO_BODY, :]], axis=-2)


def coco_categories() -> list[dict]:
    """The COCO person category with keypoint names and skeleton (COCO's own definition)."""
    return [{
        "supercategory": "person", "id": 1, "name": "person",
        "keypoints": list(COCO_KEYPOINTS), "skeleton": [list(e) for e in COCO_SKELETON_1BASED],
    }]  # fmt: skip


def coco_annotation(ann_id: int, image_id: int, keypoints_px: np.ndarray, bbox_xywh: np.ndarray,
                    area_px: float) -> dict:
    """One person annotation; keypoints (17, 2) px all labelled visible (v = 2)."""
    kps = np.concatenate([keypoints_px, np.full((17, 1), 2.0)], axis=1)
    return {
        "id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
        "bbox": [round(float(v), 2) for v in bbox_xywh], "area": round(float(area_px), 2),
        "num_keypoints": 17, "keypoints": [round(float(v), 3) for v in kps.reshape(-1)],
    }  # fmt: skip
