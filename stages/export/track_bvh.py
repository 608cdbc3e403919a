"""One BVH per person track of ``capf infer``: camera-space joints -> upright file axes -> BVH.

File axes (what Blender's BVH importer, with its defaults forward -Z / up Y, shows upright): metres,
Y up, the camera at the origin looking along -Z (seen from Blender's front view the scene looks as
the camera filmed it), X to the camera's right. "Up" is the world's up when the camera file has
extrinsics (``R``), else the median direction from pelvis to thorax over all records: the trunk of
a standing or walking person (a clip of someone lying down needs a camera with ``R``). The camera's
view direction is levelled onto the ground plane, so a tilted camera still gives an upright skeleton.
Y = 0 is the floor: the median over all records of each record's lowest joint.

A track spans its first to its last frame at the video's frame rate; frames it misses, or whose
camera-space pose is NaN (no root solution), are filled by linear interpolation of the joint
positions between the nearest good frames (and held at the ends). A track with no good frame is
skipped with one line; a one-frame track makes a valid one-frame file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.export.bvh_writer import BvhMotion, bvh_motion, write_bvh

MM_PER_M = 1000.0


def estimate_up_cam(kp3d_rel_mm: np.ndarray) -> np.ndarray:
    """``(R, 17, 3)`` root-relative camera-axes joints -> unit up direction in camera axes (pelvis -> thorax)."""
    trunk = np.asarray(kp3d_rel_mm, dtype=np.float64)[:, 8] - np.asarray(kp3d_rel_mm, dtype=np.float64)[:, 0]
    norm = np.linalg.norm(trunk, axis=-1, keepdims=True)
    good = np.isfinite(trunk).all(-1) & (norm[:, 0] > 1e-6)
    if not good.any():
        return np.array([0.0, -1.0, 0.0])  # a level camera's up
    up = np.median(trunk[good] / norm[good], axis=0)
    return up / np.linalg.norm(up)


def camera_to_file_axes(up_cam: np.ndarray) -> np.ndarray:
    """``(3, 3)`` rotation whose rows are the file's X, Y, Z in camera axes (module docstring)."""
    up = np.asarray(up_cam, dtype=np.float64)
    up = up / np.linalg.norm(up)
    forward = np.array([0.0, 0.0, 1.0]) - up[2] * up  # the view direction levelled onto the ground
    if np.linalg.norm(forward) < 1e-6:  # looking straight down or up: keep the camera's y
        forward = np.array([0.0, 1.0, 0.0]) - up[1] * up
    back = -forward / np.linalg.norm(forward)
    return np.stack([np.cross(up, back), up, back])


@dataclass
class TrackBvh:
    path: Path
    track: int
    frames: int
    filled: int  # frames interpolated (missed by the track or without a root)
    motion: BvhMotion


def _filled_track(positions: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, int]:
    """Records of one track ``(n, 17, 3)`` at clip ``frames`` -> every frame of its span, gaps interpolated."""
    span = np.arange(frames.min(), frames.max() + 1)
    good = np.isfinite(positions).all(axis=(1, 2))
    out = np.empty((len(span), 17, 3))
    flat = positions[good].reshape(good.sum(), -1)
    for c in range(flat.shape[1]):
        out.reshape(len(span), -1)[:, c] = np.interp(span, frames[good], flat[:, c])
    return out, int(len(span) - good.sum())


def write_track_bvhs(folder: Path, name: str, kp3d_cam_mm: np.ndarray, track: np.ndarray, frame: np.ndarray, *,
                     fps: float, up_cam: np.ndarray | None = None, kp3d_rel_mm: np.ndarray | None = None,
                     say=print) -> list[TrackBvh]:
    """``<name>_track<k>.bvh`` in ``folder`` for every track with at least one good frame.

    Args:
        kp3d_cam_mm: ``(R, 17, 3)`` camera-space joints (NaN rows: no root), mm.
        track, frame: ``(R,)`` person track and clip frame of each record.
        up_cam: the world's up in camera axes, if known; else estimated from ``kp3d_rel_mm`` (or
            ``kp3d_cam_mm``) as the module docstring says.
    """
    kp3d_cam_mm = np.asarray(kp3d_cam_mm, dtype=np.float64)
    track, frame = np.asarray(track), np.asarray(frame)
    if up_cam is None:
        up_cam = estimate_up_cam(kp3d_rel_mm if kp3d_rel_mm is not None else kp3d_cam_mm - kp3d_cam_mm[:, :1])
    axes = camera_to_file_axes(up_cam)
    file_m = kp3d_cam_mm @ axes.T / MM_PER_M
    lowest = file_m[..., 1].min(axis=1)
    floor = float(np.median(lowest[np.isfinite(lowest)])) if np.isfinite(lowest).any() else 0.0
    file_m[..., 1] -= floor
    written = []
    for t in np.unique(track):
        rows = np.flatnonzero(track == t)
        rows = rows[np.argsort(frame[rows], kind="stable")]
        if not np.isfinite(file_m[rows]).all(axis=(1, 2)).any():
            say(f"--bvh: track {int(t)} has no frame with a camera-space pose ({len(rows)} records); no BVH for it")
            continue
        positions, filled = _filled_track(file_m[rows], frame[rows])
        motion = bvh_motion(positions, 1.0 / float(fps))
        path = write_bvh(Path(folder) / f"{name}_track{int(t)}.bvh", motion)
        written.append(TrackBvh(path, int(t), motion.num_frames, filled, motion))
    return written
