"""External 2D detections as the lifter's input and reference points (DESIGN.md "Joints and the 2D input").

The paper's Human3.6M numbers use CPN keypoints fine-tuned on Human3.6M for the 2D input; the COCO
detector then supplies only feature maps. Two file formats are read, both in H36M-17 order, image px:
- mmpose `.npy` of (N, 17, 2|3) aligned with the annotation's frame order (third column = score);
- VideoPose3D `.npz` with `positions_2d[subject][action][camera_idx]` = (F, 17, 2), looked up by the
  frame's subject, action ("Directions_1" -> "Directions 1"), camera (H36M's 4 cameras in order)
  and frame number (mmpose's 1-based imgname numbers -> 0-based rows).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cache.key import sha256_file
from stages.extract.sources import FrameIndex, SourceError

H36M_CAMERA_ORDER = ("54138969", "55011271", "58860488", "60457274")


def _from_npy(path: Path, index: FrameIndex) -> tuple[np.ndarray, np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as error:
        raise SourceError(f"{path}: unreadable detections ({error})") from error
    if data.ndim != 3 or data.shape[1] != 17 or data.shape[2] not in (2, 3):
        raise SourceError(f"{path}: expected (N, 17, 2|3) detections, got {data.shape}")
    if len(data) != len(index):
        raise SourceError(f"{path}: {len(data)} detections for {len(index)} frames")
    scores = data[..., 2] if data.shape[2] == 3 else np.ones(data.shape[:2])
    return data[..., :2].astype(np.float32), scores.astype(np.float32)


def _label_column(index: FrameIndex, name: str) -> list[str]:
    if name not in index.index_tables:
        raise SourceError(f"dataset {index.dataset!r} has no '{name}' labels to look up VideoPose3D detections")
    codes, labels = index.index_tables[name]
    return [labels[c] for c in codes]


def _from_videopose3d(path: Path, index: FrameIndex) -> tuple[np.ndarray, np.ndarray]:
    try:
        positions = np.load(path, allow_pickle=True)["positions_2d"].item()
    except Exception as error:
        raise SourceError(f"{path}: not a VideoPose3D 2D file ({type(error).__name__}: {error})") from error
    subjects, actions = _label_column(index, "subject"), _label_column(index, "action")
    cameras = _label_column(index, "camera")
    joints = np.zeros((len(index), 17, 2), np.float32)
    for i, (subject, action, camera) in enumerate(zip(subjects, actions, cameras)):
        row = int(index.frame_numbers[i]) - 1  # mmpose numbers images from 1, VideoPose3D rows from 0
        missing = f"{path}: no detection for {subject} {action} camera {camera} frame {row}"
        try:
            sequence = positions[subject][action.replace("_", " ")][H36M_CAMERA_ORDER.index(camera)]
        except (KeyError, ValueError, IndexError, TypeError):
            raise SourceError(missing) from None
        if sequence is None:  # VideoPose3D's converters start every action as [None] * 4 cameras
            raise SourceError(missing)
        sequence = np.asarray(sequence)
        if sequence.ndim != 3 or sequence.shape[1] != 17 or sequence.shape[2] < 2:
            raise SourceError(f"{path}: {subject} {action} camera {camera} holds frames of shape {sequence.shape[1:]}; "
                              "the lifter needs 17 joints (H36M order) x 2 per frame, not another layout "
                              "such as the 16-joint Stacked Hourglass one")
        if not 0 <= row < len(sequence):
            raise SourceError(missing)
        joints[i] = sequence[row, :, :2]
    return joints, np.ones(joints.shape[:2], np.float32)


def load_external_2d(path: Path, index: FrameIndex) -> tuple[np.ndarray, np.ndarray, str]:
    """-> joints (N, 17, 2) image px in H36M order, scores (N, 17), and the key string
    `external:<sha256>` so a different detections file gives a different store."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: detections file not found")
    if path.suffix == ".npy":
        joints, scores = _from_npy(path, index)
    elif path.suffix == ".npz":
        joints, scores = _from_videopose3d(path, index)
    else:
        raise SourceError(f"{path}: detections must be an mmpose .npy or a VideoPose3D .npz")
    return joints, scores, f"external:{sha256_file(path)}"


def image_to_input(points_px: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Map (N, J, 2) image pixels through (N, 2, 3) crop transforms into detector-input pixels."""
    return np.einsum("nij,nkj->nki", affine[:, :, :2], points_px) + affine[:, None, :, 2]
