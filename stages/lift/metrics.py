"""3D pose metrics for Human3.6M and MPI-INF-3DHP (numpy in, floats out, millimetres).

Conventions (the papers' and mmpose's, so numbers compare with published ones):

- MPJPE (protocol 1): mean Euclidean joint error after subtracting the root joint (pelvis,
  H36M index 0) from prediction and ground truth.
- P-MPJPE (protocol 2): the error after the least-squares similarity transform (rotation,
  uniform scale, translation) per frame. Reflections are excluded, the rotation is proper
  (det = +1), as in VideoPose3D's `p_mpjpe` and mmpose's `compute_similarity_transform`.
- N-MPJPE: the error after the least-squares uniform scale only (mmpose's 'scale' alignment).
- MPJVE: error of the first differences between consecutive frames of one video.
- 3D PCK / AUC (MPI-INF-3DHP): percentage of joints with error strictly below the threshold
  (mmpose 0.x convention and the test set's own `mpii_compute_3d_pck.m`); AUC is the mean PCK over
  31 thresholds 0, 5, ..., 150 mm. All 17 joints count, as in the official joint groups (head top
  + head, neck, shoulders, elbows, wrists, spine, hips + pelvis, knees, ankles); results per scene
  group (green screen TS1-2, no green screen TS3-4, outdoor TS5-6), activity and sequence, on the
  valid frames the store holds.
- Human3.6M's reported average is the mean of 15 per-action means (the paper's convention);
  mmpose's MPJPE metric weights every frame equally instead. `evaluate_h36m` gives both.

Everything is vectorised over frames: a batched SVD does Procrustes for ~550k test frames in
seconds, where mmpose's `keypoint_mpjpe` loops over frames in Python and returns only a mean.
mmpose therefore serves as an oracle in the tests and as an optional aggregate backend
(`evaluate_h36m(..., backend="mmpose")`), not as the hot path.
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

import numpy as np

from stages.common.joint_sets import AUC_THRESHOLDS_MM as AUC_THRESHOLDS
from stages.common.joint_sets import (MPI3DHP_ACTIVITIES, MPI3DHP_PCK_GROUPS, MPI3DHP_PCK_GROUPS_H36M,  # noqa: F401
                                      MPI3DHP_ROOT_JOINT, MPI3DHP_SCENE_GROUPS, PCK_THRESHOLD_MM)

Alignment = Literal["none", "procrustes", "scale"]
Backend = Literal["numpy", "mmpose"]

# Human3.6M's 15 actions in the canonical column order of published tables.
H36M_ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
    "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
    "WalkTogether",
)

# Spellings that differ between subjects / releases of the dataset -> canonical name.
_ACTION_ALIASES: dict[str, str] = {
    "TakingPhoto": "Photo",
    "WalkingDog": "WalkDog",
    "WalkingTogether": "WalkTogether",
}

MPI3DHP_TABLE_ACTIVITIES: tuple[str, ...] = tuple(MPI3DHP_ACTIVITIES.values())
AUC_THRESHOLDS_MM: np.ndarray = np.asarray(AUC_THRESHOLDS, dtype=np.float64)  # 0, 5, ..., 150


# --------------------------------------------------------------------------- helpers

def _as_poses(x) -> np.ndarray:
    """Poses as float64 `(N, J, 3)`; float64 keeps Procrustes exact to ~1e-9 mm."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"expected poses of shape (N, J, 3), got {arr.shape}")
    return arr


def _check_pair(pred_mm, gt_mm) -> tuple[np.ndarray, np.ndarray]:
    pred, gt = _as_poses(pred_mm), _as_poses(gt_mm)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    return pred, gt


def root_relative(poses_mm, root_index: int = 0) -> np.ndarray:
    """Subtract the root joint from every joint. `(N, J, 3) -> (N, J, 3)`."""
    poses = _as_poses(poses_mm)
    return poses - poses[:, root_index : root_index + 1]


# --------------------------------------------------------------------------- alignment

def procrustes_align(pred_mm, gt_mm) -> np.ndarray:
    """Least-squares similarity transform of each predicted pose onto its ground truth.

    Solves min_{s, R, t} sum_j ||s * p_j R + t - g_j||^2 per frame with R a proper rotation
    (det = +1): a mirrored prediction is NOT rescued, as in the standard implementations.
    `(N, J, 3), (N, J, 3) -> (N, J, 3)` aligned prediction.
    """
    pred, gt = _check_pair(pred_mm, gt_mm)
    mu_p, mu_g = pred.mean(axis=1, keepdims=True), gt.mean(axis=1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    # Row-vector convention: maximise trace(R^T H) with H = p0^T g0 = U S V^T -> R = U D V^T.
    h = np.einsum("njc,njd->ncd", p0, g0)
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d[d == 0] = 1.0
    u[:, :, -1] *= d[:, None]  # flip the weakest axis when the best orthogonal map reflects
    s[:, -1] *= d
    rot = u @ vt
    norm_p = np.einsum("njc,njc->n", p0, p0)
    # A degenerate (all joints equal) prediction gets scale 0: it collapses onto gt's centroid.
    scale = np.divide(s.sum(axis=1), norm_p, out=np.zeros_like(norm_p), where=norm_p > 0)
    return scale[:, None, None] * (p0 @ rot) + mu_g


def scale_align(pred_mm, gt_mm) -> np.ndarray:
    """Least-squares uniform scale of each prediction (no rotation, no translation)."""
    pred, gt = _check_pair(pred_mm, gt_mm)
    pp = np.einsum("njc,njc->n", pred, pred)
    pg = np.einsum("njc,njc->n", pred, gt)
    scale = np.divide(pg, pp, out=np.zeros_like(pp), where=pp > 0)
    return scale[:, None, None] * pred


def joint_errors(pred_mm, gt_mm, alignment: Alignment = "none") -> np.ndarray:
    """Euclidean error per frame and joint after the chosen alignment. `-> (N, J)` mm."""
    pred, gt = _check_pair(pred_mm, gt_mm)
    if alignment == "procrustes":
        pred = procrustes_align(pred, gt)
    elif alignment == "scale":
        pred = scale_align(pred, gt)
    elif alignment != "none":
        raise ValueError(f"unknown alignment {alignment!r}")
    return np.linalg.norm(pred - gt, axis=-1)


# --------------------------------------------------------------------------- per-frame errors

def mpjpe(pred_mm, gt_mm) -> np.ndarray:
    """Per-frame MPJPE `(N,)` mm; inputs as given (root-relative them first for protocol 1).

    The frame-weighted aggregate is `mpjpe(...).mean()`.
    """
    return joint_errors(pred_mm, gt_mm, "none").mean(axis=1)


def p_mpjpe(pred_mm, gt_mm) -> np.ndarray:
    """Per-frame P-MPJPE `(N,)` mm (protocol 2, Procrustes-aligned)."""
    return joint_errors(pred_mm, gt_mm, "procrustes").mean(axis=1)


def n_mpjpe(pred_mm, gt_mm) -> np.ndarray:
    """Per-frame N-MPJPE `(N,)` mm (scale-aligned)."""
    return joint_errors(pred_mm, gt_mm, "scale").mean(axis=1)


def mmpose_mean_error(pred_mm, gt_mm, alignment: Alignment = "none") -> float:
    """Frame-weighted mean error through mmpose's `keypoint_mpjpe` (raises ImportError
    when mmpose is absent). The numpy functions above must agree with it; see the tests."""
    from mmpose.evaluation.functional import keypoint_mpjpe

    pred, gt = _check_pair(pred_mm, gt_mm)
    mask = np.ones(pred.shape[:2], dtype=bool)
    return float(keypoint_mpjpe(pred, gt, mask, alignment=alignment))


# --------------------------------------------------------------------------- velocity

def consecutive_pairs(video_ids, frame_numbers, frame_step: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (a, b) of rows where b is the next frame of a's video.

    Rows may come in any order; a pair exists only where the frame numbers differ by exactly
    `frame_step` within one video, so gaps and video boundaries never create fake velocities.
    `(N,), (N,) -> (P,), (P,)` row indices.
    """
    _, video_code = np.unique(np.asarray(video_ids), return_inverse=True)
    frames = np.asarray(frame_numbers).astype(np.int64).ravel()
    if video_code.shape != frames.shape:
        raise ValueError("video_ids and frame_numbers must have the same length")
    order = np.lexsort((frames, video_code))
    v, f = video_code[order], frames[order]
    ok = (v[1:] == v[:-1]) & (f[1:] - f[:-1] == frame_step)
    return order[:-1][ok], order[1:][ok]


def velocity_errors(pred_mm, gt_mm, video_ids, frame_numbers, frame_step: int = 1
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair velocity error `(P,)` mm/frame (mean over joints of ||dp - dg||) and the
    first row of each pair `(P,)`, so callers can group the errors by action."""
    pred, gt = _check_pair(pred_mm, gt_mm)
    a, b = consecutive_pairs(video_ids, frame_numbers, frame_step)
    dv = (pred[b] - pred[a]) - (gt[b] - gt[a])
    return np.linalg.norm(dv, axis=-1).mean(axis=1), a


def mpjve(pred_mm, gt_mm, video_ids, frame_numbers, frame_step: int = 1) -> float | None:
    """Mean per-joint velocity error over all consecutive-frame pairs (mm per frame);
    None when no two rows are consecutive frames of one video."""
    err, _ = velocity_errors(pred_mm, gt_mm, video_ids, frame_numbers, frame_step)
    return float(err.mean()) if err.size else None


def per_video_errors(pred_mm, gt_mm, video_ids, frame_numbers, frame_step: int = 1, *,
                     already_root_relative: bool = False) -> dict[str, dict]:
    """MPJPE and MPJVE of each video, its frames taken in frame order (root-relative, mm).

    `(N, J, 3)` x 2, `(N,)` video names, `(N,)` frame numbers -> {video: {mpjpe, mpjve,
    num_frames, first_frame, last_frame}}, videos sorted by name; mpjve is None for a video
    without two consecutive frames.
    """
    pred, gt = ((np.asarray(pred_mm), np.asarray(gt_mm)) if already_root_relative
                else (root_relative(pred_mm), root_relative(gt_mm)))
    videos = np.asarray(video_ids).astype(str)
    frames = np.asarray(frame_numbers).astype(np.int64)
    per_frame = joint_errors(pred, gt, "none").mean(axis=1)
    out = {}
    for name in np.unique(videos):
        rows = np.flatnonzero(videos == name)
        rows = rows[np.argsort(frames[rows], kind="stable")]
        velocity = mpjve(pred[rows], gt[rows], np.zeros(len(rows)), frames[rows], frame_step)
        out[str(name)] = {"mpjpe": float(per_frame[rows].mean()), "mpjve": velocity, "num_frames": int(len(rows)),
                          "first_frame": int(frames[rows[0]]), "last_frame": int(frames[rows[-1]])}
    return out


# --------------------------------------------------------------------------- PCK / AUC

def pck3d(pred_mm, gt_mm, threshold_mm: float = PCK_THRESHOLD_MM) -> float:
    """3D PCK in percent: share of joints (all frames) with error < threshold.
    Pass root-relative poses (`evaluate_3dhp` does)."""
    err = joint_errors(pred_mm, gt_mm, "none")
    return float((err < threshold_mm).mean() * 100.0)


def auc3d(pred_mm, gt_mm, thresholds_mm: Sequence[float] = AUC_THRESHOLDS_MM) -> float:
    """Area under the 3D PCK curve in percent: mean PCK over the thresholds."""
    err = joint_errors(pred_mm, gt_mm, "none")
    thr = np.asarray(thresholds_mm, dtype=np.float64)
    return float((err[None] < thr[:, None, None]).mean(axis=(1, 2)).mean() * 100.0)


# --------------------------------------------------------------------------- Human3.6M actions

_SUBJECT_PREFIX = re.compile(r"^S\d+_")
_TRIAL_SUFFIX = re.compile(r"[ _]\d+$")


def action_of(imgname_or_trial: str) -> str:
    """Human3.6M action of an image name, trial name or action name (30 trials -> 15 actions).

    "S9/S9_Walking_1.54138969/S9_Walking_1.54138969_000001.jpg", "S9_Walking_1.54138969",
    "Walking 1" and "Walking" all give "Walking"; "TakingPhoto_1" gives "Photo". Names outside
    the 15 (a synthetic dataset's, say) come back stripped the same way, not rejected.
    """
    name = str(imgname_or_trial).replace("\\", "/").rstrip("/").split("/")[-1]
    name = _SUBJECT_PREFIX.sub("", name)
    name = name.split(".")[0]  # "<action>[_n].<camera>_<frame>.jpg": the camera follows the dot
    name = _TRIAL_SUFFIX.sub("", name.strip())
    return _ACTION_ALIASES.get(name, name)


def _ordered_actions(present: Sequence[str]) -> list[str]:
    """Canonical H36M order first, then any other action names alphabetically."""
    present_set = set(present)
    return [a for a in H36M_ACTIONS if a in present_set] + sorted(present_set - set(H36M_ACTIONS))


def _group_means(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of `values` per integer group code; NaN for empty groups."""
    sums = np.bincount(codes, weights=values, minlength=n_groups)
    counts = np.bincount(codes, minlength=n_groups)
    return np.divide(sums, counts, out=np.full(n_groups, np.nan), where=counts > 0)


def _nan_to_none(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def evaluate_h36m(pred_mm, gt_mm, actions: Sequence[str], video_ids=None, frame_numbers=None, *,
                  already_root_relative: bool = False, root_index: int = 0,
                  frame_step: int = 1, backend: Backend = "numpy") -> dict:
    """Human3.6M protocols 1 and 2, per action and averaged both ways.

    pred_mm, gt_mm: `(N, 17, 3)` camera-frame millimetres; actions: `(N,)` action, trial or
    image names (merged with `action_of`); video_ids, frame_numbers: `(N,)` for MPJVE.
    backend="mmpose" computes the per-action means with mmpose's `keypoint_mpjpe` instead of
    the vectorised numpy code (same numbers, far slower on the full test set).

    Returns a JSON-ready dict: mpjpe / p_mpjpe (mean over actions), *_frame_weighted (mean over
    frames), mpjve (mean over actions, None without consecutive frames), per_action {action:
    {mpjpe, p_mpjpe, mpjve, num_frames}} in canonical order, per_joint_mpjpe (J floats),
    num_frames.
    """
    pred, gt = _check_pair(pred_mm, gt_mm)
    if len(actions) != len(pred):
        raise ValueError(f"{len(actions)} actions for {len(pred)} frames")
    if not already_root_relative:
        pred, gt = root_relative(pred, root_index), root_relative(gt, root_index)

    # Merge the 30 trials into 15 actions once per distinct name, not once per frame.
    uniq_names, name_code = np.unique(np.asarray(actions, dtype=str), return_inverse=True)
    merged = np.array([action_of(n) for n in uniq_names], dtype=object)
    order = _ordered_actions(list(merged))
    code_of = {a: i for i, a in enumerate(order)}
    action_code = np.array([code_of[a] for a in merged], dtype=np.int64)[name_code]
    n_act = len(order)

    err = joint_errors(pred, gt, "none")  # (N, J)
    e1 = err.mean(axis=1)
    e2 = p_mpjpe(pred, gt)
    if backend == "mmpose":
        act_p1 = np.array([mmpose_mean_error(pred[action_code == k], gt[action_code == k], "none")
                           for k in range(n_act)])
        act_p2 = np.array([mmpose_mean_error(pred[action_code == k], gt[action_code == k],
                                             "procrustes") for k in range(n_act)])
    elif backend == "numpy":
        act_p1 = _group_means(e1, action_code, n_act)
        act_p2 = _group_means(e2, action_code, n_act)
    else:
        raise ValueError(f"unknown backend {backend!r}")
    counts = np.bincount(action_code, minlength=n_act)

    act_vel = np.full(n_act, np.nan)
    vel_mean = vel_frame_weighted = None
    if video_ids is not None and frame_numbers is not None:
        ve, first = velocity_errors(pred, gt, video_ids, frame_numbers, frame_step)
        if ve.size:
            act_vel = _group_means(ve, action_code[first], n_act)
            vel_mean = float(np.nanmean(act_vel))
            vel_frame_weighted = float(ve.mean())
    per_action = {
        a: {"mpjpe": float(act_p1[k]), "p_mpjpe": float(act_p2[k]),
            "mpjve": _nan_to_none(act_vel[k]), "num_frames": int(counts[k])}
        for k, a in enumerate(order)
    }
    return {
        "mpjpe": float(act_p1.mean()),
        "p_mpjpe": float(act_p2.mean()),
        "mpjpe_frame_weighted": float(e1.mean()),
        "p_mpjpe_frame_weighted": float(e2.mean()),
        "mpjve": vel_mean,
        "mpjve_frame_weighted": vel_frame_weighted,
        "per_action": per_action,
        "per_joint_mpjpe": [float(v) for v in err.mean(axis=0)],
        "num_frames": int(len(pred)),
    }


def _joint_hits(err_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, J)`` joint errors -> ``(N, J)`` PCK@150 hits (0/1) and ``(N, J)`` share of the 31 AUC
    thresholds each joint is under (strict ``<``, as ``mpii_compute_3d_pck.m``)."""
    pck = (err_mm < PCK_THRESHOLD_MM).astype(np.float64)
    auc = (err_mm[:, :, None] < AUC_THRESHOLDS_MM).mean(axis=2)
    return pck, auc


def _scores(pck: np.ndarray, auc: np.ndarray, err_mm: np.ndarray,
            groups: tuple[tuple[str, tuple[int, ...]], ...]) -> dict:
    """The test set's figures for one set of frames, all `(F, J)` inputs.

    A group's PCK (AUC) pools its joints and frames; the total weights each group by its joint count
    (``mpii_compute_3d_pck.m``), i.e. pools the scored joints and frames. MPJPE pools all J joints, as
    its MPJPE table does. ``*_17j``: the same pooled over every joint, the pelvis and spine included."""
    scored = sorted(j for _, joints in groups for j in joints)
    return {
        "pck150": float(pck[:, scored].mean() * 100.0),
        "auc": float(auc[:, scored].mean() * 100.0),
        "mpjpe": float(err_mm.mean()),
        "pck150_17j": float(pck.mean() * 100.0),
        "auc_17j": float(auc.mean() * 100.0),
        "num_frames": int(len(err_mm)),
        "per_joint_group": {name: {"pck150": float(pck[:, list(joints)].mean() * 100.0),
                                   "auc": float(auc[:, list(joints)].mean() * 100.0)}
                            for name, joints in groups},
    }


def _by_label(per_joint: tuple[np.ndarray, ...], labels, order: Sequence[str], groups) -> dict[str, dict]:
    """{label: scores of its frames}, labels in ``order`` first, then any others alphabetically."""
    labels = np.asarray(labels, dtype=str)
    present = set(np.unique(labels).tolist())
    ordered = [g for g in order if g in present] + sorted(present - set(order))
    return {g: _scores(*(v[labels == g] for v in per_joint), groups) for g in ordered}


def evaluate_3dhp(pred_mm, gt_mm, *, scenes=None, activities=None, sequences=None,
                  already_root_relative: bool = False, joint_order: Literal["h36m", "3dhp"] = "h36m") -> dict:
    """MPI-INF-3DHP as the test set's MATLAB evaluation scores it (``mpii_evaluate_errors.m``),
    overall and (given the labels) per scene group, activity and sequence.

    pred_mm, gt_mm: `(N, 17, 3)`; scenes, activities, sequences: `(N,)` label strings; pass the
    valid frames only (the protocol's). ``joint_order``: "h36m" (a CAPF store's order, root 0) or
    "3dhp" (the test set's own, root 14). Without ``already_root_relative`` the root is subtracted
    from both; callers that score the authors' way pass poses already prepared.

    Headline ``pck150`` / ``auc`` (percent): the 14 joints of the 8 groups of
    ``mpii_get_pck_auc_joint_groups.m`` (head top, neck, shoulders, elbows, wrists, hips, knees,
    ankles), joint-weighted; ``mpjpe`` (mm) over all 17 joints, frames pooled; ``pck150_17j`` /
    ``auc_17j`` the same PCK/AUC over all 17 joints (the pelvis and spine included: higher);
    ``per_joint_group`` {group: {pck150, auc}}. Every per_* entry carries the same keys.
    """
    pred, gt = _check_pair(pred_mm, gt_mm)
    groups = MPI3DHP_PCK_GROUPS_H36M if joint_order == "h36m" else MPI3DHP_PCK_GROUPS
    if joint_order not in ("h36m", "3dhp"):
        raise ValueError(f"joint_order must be 'h36m' or '3dhp', got {joint_order!r}")
    if not already_root_relative:
        root = 0 if joint_order == "h36m" else MPI3DHP_ROOT_JOINT
        pred, gt = root_relative(pred, root), root_relative(gt, root)
    err = joint_errors(pred, gt, "none")
    per_joint = (*_joint_hits(err), err)
    out = _scores(*per_joint, groups)
    for key, labels, order in (("per_scene", scenes, MPI3DHP_SCENE_GROUPS),
                               ("per_activity", activities, MPI3DHP_TABLE_ACTIVITIES),
                               ("per_sequence", sequences, ())):
        if labels is not None:
            if len(labels) != len(pred):
                raise ValueError(f"{len(labels)} {key[4:]} labels for {len(pred)} frames")
            out[key] = _by_label(per_joint, labels, order, groups)
    return out
