"""What ``capf infer`` adds to its outputs from :mod:`stages.export`: each record's camera-space root
(always), the ground-path map of the side-by-side video, and with ``--bvh`` one BVH per track.

Kept apart from ``pipeline/infer.py`` so the run there only calls these three steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stages.export.camera_space import camera_space, camera_space_errors
from stages.export.intrinsics import Intrinsics


def attach_camera_space(preds, camera: Intrinsics, sizes_wh: np.ndarray, *, sigma_frames: float = 0.0,
                        gt3d_cam_mm: np.ndarray | None = None) -> tuple[list[str], dict | None]:
    """Set ``preds.root_cam_mm`` and ``preds.kp3d_cam_mm`` (``stages.infer.outputs.Predictions``) from
    its root-relative 3D, its 2D and their scores; ``sizes_wh`` ``(R, 2)`` is each record's frame
    size. Returns the lines to print and, with ``gt3d_cam_mm`` (absolute camera-frame truth), the errors."""
    space = camera_space(preds.kp3d_mm, preds.kp2d, preds.kp2d_score, camera.rows(sizes_wh), track=preds.track,
                         frame=preds.frame, sigma_frames=sigma_frames)
    preds.root_cam_mm, preds.kp3d_cam_mm = space.root_cam_mm, space.kp3d_cam_mm
    preds.attrs.update(camera=camera.describe(), root_smooth_sigma_frames=float(sigma_frames))
    lines = [f"camera space: roots of {len(preds) - space.unsolved} of {len(preds)} records from {camera.describe()}"
             + (f", smoothed along tracks (sigma {sigma_frames:g} frames)" if sigma_frames > 0 else "")
             + (f"; {space.unsolved} unsolved (NaN: too few confident joints or no solution in front of the "
                "camera)" if space.unsolved else "")]
    errors = None
    if gt3d_cam_mm is not None and space.unsolved < len(preds):
        errors = camera_space_errors(space.root_cam_mm, space.kp3d_cam_mm, gt3d_cam_mm)
        preds.attrs.update(root_error_mm=errors["root_error_mm"], camera_mpjpe_mm=errors["camera_mpjpe_mm"])
        lines.append(f"root position error {errors['root_error_mm']:.1f} mm ({errors['root_error_pct_of_distance']:.2f} % "
                     f"of the {errors['camera_distance_mm'] / 1000:.2f} m camera distance), camera-space MPJPE "
                     f"{errors['camera_mpjpe_mm']:.1f} mm")
    return lines, errors


def up_direction(preds, camera: Intrinsics) -> np.ndarray:
    """World up in camera axes: from the camera's extrinsics when known, else from the people's trunks."""
    from stages.export.track_bvh import estimate_up_cam

    return np.asarray(camera.up_cam) if camera.up_cam is not None else estimate_up_cam(preds.kp3d_mm)


def ground_path_overlay(preds, camera: Intrinsics):
    """The side-by-side video's top-view inset of the root paths (``render_side_by_side(overlay=...)``)."""
    from stages.export.path_view import GroundPathMap

    if preds.root_cam_mm is None or not np.isfinite(preds.root_cam_mm).any():
        return None
    return GroundPathMap(preds.root_cam_mm, preds.track, preds.frame, up_direction(preds, camera)).draw


def write_bvhs(folder: Path, name: str, preds, camera: Intrinsics, fps: float, say) -> list[Path]:
    """``<name>_track<k>.bvh`` per track (:mod:`stages.export.track_bvh`); one line per file or skip."""
    from stages.export.track_bvh import write_track_bvhs

    written = write_track_bvhs(folder, name, preds.kp3d_cam_mm, preds.track, preds.frame, fps=fps,
                               up_cam=up_direction(preds, camera), say=say)
    for item in written:
        say(f"--bvh: {item.path.name}: {item.frames} frames at {fps:g} fps"
            + (f", {item.filled} filled by interpolation" if item.filled else ""))
    return [item.path for item in written]
