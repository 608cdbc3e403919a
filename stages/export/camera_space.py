"""Where each person is: the root translation that puts root-relative 3D onto its 2D joints.

The lifter's 3D is root-relative (pelvis at the origin). Under a pinhole camera (fx, fy, cx, cy) a joint
``X_j + t`` (camera axes x right, y down, z forward, mm) projects to ``u_j``; with normalised image
coordinates ``x_j = (u_j - cx) / fx``, ``y_j = (v_j - cy) / fy`` the projection equations

    (X_j + t_x) - x_j (Z_j + t_z) = 0,     (Y_j + t_y) - y_j (Z_j + t_z) = 0

are linear in ``t``: two rows per joint of a 3-unknown least-squares problem, weighted by the joints'
2D scores. A second pass divides each joint's rows by its depth from the first (``Z_j + t_z``), which
turns the algebraic residual into the reprojection error (in units of 1/f pixels), so a far joint is
not worth more than a near one. The absolute depth comes from the size of the root-relative skeleton:
bones 5 % too long put the person 5 % too far away.

A record gets NaN (and a count in the note) where the solve has no answer: fewer than two finite
joints with positive weight, a singular system, or a solution with a joint at or behind the camera.
Smoothing (optional, ``sigma_frames`` > 0) is a Gaussian along each person track over runs of
consecutive frames, NaN records left out of the average and left NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_JOINTS = 2  # two joints give four equations for three unknowns
MIN_DEPTH_MM = 1.0


@dataclass
class CameraSpace:
    """Per record: the root's camera-frame position and the joints there (NaN where unsolved)."""

    root_cam_mm: np.ndarray   # (R, 3)
    kp3d_cam_mm: np.ndarray   # (R, 17, 3)
    unsolved: int             # records left NaN

    @property
    def solved(self) -> np.ndarray:
        return np.isfinite(self.root_cam_mm).all(axis=1)


def _weighted_solve(kp3d_rel_mm: np.ndarray, xy_norm: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Batched least squares: ``(R, J, 3)``, ``(R, J, 2)``, ``(R, J)`` -> ``(R, 3)`` (NaN if singular)."""
    r, j = weights.shape
    a = np.zeros((r, j, 2, 3))
    a[..., 0, 0] = 1.0
    a[..., 1, 1] = 1.0
    a[..., :, 2] = -xy_norm
    b = xy_norm * kp3d_rel_mm[..., 2:3] - kp3d_rel_mm[..., :2]          # (R, J, 2)
    w = weights[..., None, None]
    ata = np.einsum("rjki,rjkl->ril", a * w, a)                           # (R, 3, 3)
    atb = np.einsum("rjki,rjk->ri", a * w, b)                             # (R, 3)
    out = np.full((r, 3), np.nan)
    ok = np.linalg.cond(ata) < 1e12
    if ok.any():
        out[ok] = np.linalg.solve(ata[ok], atb[ok][..., None])[..., 0]
    return out


def solve_root(kp3d_rel_mm: np.ndarray, kp2d_px: np.ndarray, weights: np.ndarray,
               intrinsics: np.ndarray) -> np.ndarray:
    """Root translation per record (module docstring).

    Args:
        kp3d_rel_mm: ``(R, J, 3)`` root-relative joints, camera axes, mm.
        kp2d_px: ``(R, J, 2)`` the same joints in image pixels.
        weights: ``(R, J)`` per-joint weights (2D scores); <= 0 or non-finite leaves a joint out.
        intrinsics: ``(R, 4)`` fx, fy, cx, cy in pixels per record.
    Returns:
        ``(R, 3)`` root positions in camera axes, mm; NaN rows where there is no answer.
    """
    kp3d = np.asarray(kp3d_rel_mm, dtype=np.float64)
    kp2d = np.asarray(kp2d_px, dtype=np.float64)
    k = np.asarray(intrinsics, dtype=np.float64)
    xy = (kp2d - k[:, None, 2:4]) / k[:, None, 0:2]
    w = np.asarray(weights, dtype=np.float64).copy()
    finite = np.isfinite(kp3d).all(-1) & np.isfinite(xy).all(-1) & np.isfinite(w)
    w = np.where(finite & (w > 0), w, 0.0)
    kp3d, xy = np.where(finite[..., None], kp3d, 0.0), np.where(finite[..., None], xy, 0.0)
    enough = (w > 0).sum(axis=1) >= MIN_JOINTS
    root = np.full((len(w), 3), np.nan)
    if enough.any():
        first = _weighted_solve(kp3d[enough], xy[enough], w[enough])
        depth = kp3d[enough, :, 2] + first[:, None, 2]
        with np.errstate(invalid="ignore", divide="ignore"):
            refined_w = np.where(depth > MIN_DEPTH_MM, w[enough] / depth ** 2, 0.0)
        second = _weighted_solve(kp3d[enough], xy[enough], refined_w)
        root[enough] = np.where(np.isfinite(second), second, first)
    used = w > 0
    with np.errstate(invalid="ignore"):
        nearest = np.where(used, kp3d[..., 2], np.inf).min(axis=1) + root[:, 2]
    root[~(nearest > MIN_DEPTH_MM)] = np.nan  # a joint at or behind the camera: no physical answer
    return root


def runs_of_tracks(track: np.ndarray, frame: np.ndarray) -> list[np.ndarray]:
    """Record indices of each run of consecutive frames of one track, in frame order."""
    track, frame = np.asarray(track), np.asarray(frame)
    runs = []
    for t in np.unique(track):
        rows = np.flatnonzero(track == t)
        rows = rows[np.argsort(frame[rows], kind="stable")]
        cuts = np.flatnonzero(np.diff(frame[rows]) != 1) + 1
        runs += [r for r in np.split(rows, cuts) if len(r)]
    return runs


def smooth_along_tracks(root_mm: np.ndarray, track: np.ndarray, frame: np.ndarray,
                        sigma_frames: float) -> np.ndarray:
    """Gaussian smoothing of ``(R, 3)`` roots along each run of a track (module docstring)."""
    from scipy.ndimage import gaussian_filter1d

    out = np.array(root_mm, dtype=np.float64, copy=True)
    if sigma_frames <= 0:
        return out
    for rows in runs_of_tracks(track, frame):
        values = out[rows]
        valid = np.isfinite(values).all(axis=1)
        if valid.sum() < 2:
            continue
        weight = gaussian_filter1d(valid.astype(np.float64), sigma_frames, mode="nearest")
        summed = gaussian_filter1d(np.where(valid[:, None], values, 0.0), sigma_frames, axis=0, mode="nearest")
        out[rows[valid]] = (summed / weight[:, None])[valid]
    return out


def camera_space(kp3d_rel_mm: np.ndarray, kp2d_px: np.ndarray, scores: np.ndarray, intrinsics: np.ndarray, *,
                 track: np.ndarray, frame: np.ndarray, sigma_frames: float = 0.0) -> CameraSpace:
    """Solve, optionally smooth along tracks, and place the joints: ``kp3d_cam = kp3d_rel + root``."""
    root = solve_root(kp3d_rel_mm, kp2d_px, scores, intrinsics)
    root = smooth_along_tracks(root, track, frame, sigma_frames)
    kp3d_cam = np.asarray(kp3d_rel_mm, dtype=np.float64) + root[:, None, :]
    unsolved = int((~np.isfinite(root).all(axis=1)).sum())
    return CameraSpace(root.astype(np.float32), kp3d_cam.astype(np.float32), unsolved)


def camera_space_errors(root_cam_mm: np.ndarray, kp3d_cam_mm: np.ndarray, gt3d_cam_mm: np.ndarray) -> dict:
    """Against camera-frame ground truth ``(R, 17, 3)`` mm (absolute, not root-relative), over solved records:
    root position error (mean mm; and relative to the camera distance |root_gt|, mean %), its depth
    part, and the camera-space MPJPE (mean joint distance without re-rooting)."""
    gt = np.asarray(gt3d_cam_mm, dtype=np.float64)
    root = np.asarray(root_cam_mm, dtype=np.float64)
    solved = np.isfinite(root).all(axis=1)
    err = np.linalg.norm(root[solved] - gt[solved, 0], axis=-1)
    distance = np.linalg.norm(gt[solved, 0], axis=-1)
    joints = np.linalg.norm(np.asarray(kp3d_cam_mm, dtype=np.float64)[solved] - gt[solved], axis=-1)
    return {"records": int(len(root)), "solved": int(solved.sum()),
            "root_error_mm": float(err.mean()) if solved.any() else float("nan"),
            "root_error_pct_of_distance": float((err / distance).mean() * 100) if solved.any() else float("nan"),
            "root_depth_error_mm": float(np.abs(root[solved, 2] - gt[solved, 0, 2]).mean()) if solved.any()
            else float("nan"),
            "camera_mpjpe_mm": float(joints.mean()) if solved.any() else float("nan"),
            "camera_distance_mm": float(distance.mean()) if solved.any() else float("nan")}
