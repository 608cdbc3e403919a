"""Evaluation report: metrics.json, a markdown table shaped like the paper's Table 1 or 2, plots.

Plots use matplotlib's object API (`Figure`, Agg canvas) so nothing touches pyplot's global
figure state and the module works headless.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stages.lift.joints import H36M_JOINT_NAMES, H36M_LEFT, H36M_RIGHT
from stages.lift.metrics import H36M_ACTIONS, mpjpe, root_relative

# Bones of the Human3.6M 17-joint layout (joint order and left/right sets: stages.lift.joints).
H36M_BONES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
    (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
)
_LEFT_JOINTS = frozenset(H36M_LEFT)
_RIGHT_JOINTS = frozenset(H36M_RIGHT)

# Column headers of the paper's Table 1, in H36M_ACTIONS order.
ACTION_ABBREV: dict[str, str] = dict(zip(H36M_ACTIONS, (
    "Dir.", "Disc.", "Eat", "Greet", "Phone", "Photo", "Pose", "Purch.", "Sit", "SitD.",
    "Smoke", "Wait", "WalkD.", "Walk", "WalkT.",
)))
MISSING = "–"


# --------------------------------------------------------------------------- JSON

def to_jsonable(obj):
    """Numpy scalars/arrays -> Python; NaN and inf -> None (JSON has no NaN)."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# --------------------------------------------------------------------------- tables

def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:.{digits}f}"


def format_h36m_table(metrics: Mapping) -> str:
    """Markdown table like the paper's Table 1 from `evaluate_h36m`'s dict.

    Rows MPJPE (P1) and P-MPJPE (P2); one column per action in canonical order ("–" where the
    data lack the action), then any non-H36M actions, then Avg (mean over present actions).
    """
    per_action = metrics.get("per_action", {})
    extra = [a for a in per_action if a not in ACTION_ABBREV]
    columns = list(H36M_ACTIONS) + extra
    header = ["Protocol"] + [ACTION_ABBREV.get(a, a) for a in columns] + ["Avg"]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label, key in (("MPJPE (P1)", "mpjpe"), ("P-MPJPE (P2)", "p_mpjpe")):
        cells = [_fmt(per_action[a][key]) if a in per_action else MISSING for a in columns]
        lines.append("| " + " | ".join([label] + cells + [_fmt(metrics.get(key))]) + " |")
    notes = [
        f"Frame-weighted means (mmpose's convention): MPJPE {_fmt(metrics.get('mpjpe_frame_weighted'))} mm, "
        f"P-MPJPE {_fmt(metrics.get('p_mpjpe_frame_weighted'))} mm over {metrics.get('num_frames', '?')} frames; "
        f"Avg above is the mean over {len(per_action)} actions (the paper's convention).",
    ]
    if metrics.get("mpjve") is not None:
        notes.append(f"MPJVE {_fmt(metrics['mpjve'])} mm/frame (mean over actions), "
                     f"{_fmt(metrics.get('mpjve_frame_weighted'))} frame-weighted.")
    if metrics.get("per_video"):
        notes.append(format_per_video_table(metrics["per_video"]))
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes) + "\n"


def format_per_video_table(per_video: Mapping[str, Mapping]) -> str:
    """One row per video (its frames in frame order): frames, MPJPE, MPJVE (`per_video_errors`)."""
    lines = ["| Video | Frames | MPJPE (mm) | MPJVE (mm/frame) |", "|:---|---:|---:|---:|"]
    for name, row in per_video.items():
        lines.append(f"| {name} | {row['first_frame']}-{row['last_frame']} ({row['num_frames']}) | "
                     f"{_fmt(row['mpjpe'])} | {_fmt(row['mpjve'], 2)} |")
    return "\n".join(lines)


SCENE_ABBREV: dict[str, str] = {"green screen": "GS", "no green screen": "noGS", "outdoor": "Outdoor"}


def _group_rows(groups: Mapping[str, Mapping], overall: Mapping, abbrev: Mapping[str, str]) -> list[str]:
    """Rows PCK / AUC / MPJPE, one column per group and All (the layout of Mehta et al.'s tables)."""
    header = ["Metric"] + [abbrev.get(g, g) for g in groups] + ["All"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for label, key in (("PCK@150mm (%) ↑", "pck150"), ("AUC (%) ↑", "auc"), ("MPJPE (mm) ↓", "mpjpe")):
        cells = [_fmt(row.get(key)) for row in groups.values()]
        lines.append("| " + " | ".join([label] + cells + [_fmt(overall.get(key))]) + " |")
    lines.append("| frames | " + " | ".join(str(row.get("num_frames", "?")) for row in groups.values())
                 + f" | {overall.get('num_frames', '?')} |")
    return lines


def format_3dhp_table(metrics: Mapping, model: str = "") -> str:
    """Markdown shaped like the paper's Table 2 (MPI-INF-3DHP: PCK, AUC, MPJPE on the valid test
    frames), then the same three per scene group and per activity (`evaluate_3dhp`'s dict)."""
    lines = ["| Model | PCK ↑ | AUC ↑ | MPJPE (mm) ↓ |", "|:---|---:|---:|---:|",
             f"| {model or 'CA-PF'} | {_fmt(metrics.get('pck150'))} | {_fmt(metrics.get('auc'))} | "
             f"{_fmt(metrics.get('mpjpe'))} |"]
    for title, key, abbrev in (("By scene group", "per_scene", SCENE_ABBREV), ("By activity", "per_activity", {}),
                               ("By sequence", "per_sequence", {})):
        if metrics.get(key):
            lines += ["", f"{title}:", ""] + _group_rows(metrics[key], metrics, abbrev)
    if metrics.get("per_joint_group"):
        groups = metrics["per_joint_group"]
        lines += ["", "By joint group:", "", "| Metric | " + " | ".join(groups) + " | Total |",
                  "|:---|" + "---:|" * (len(groups) + 1)]
        for label, key in (("PCK@150mm (%) ↑", "pck150"), ("AUC (%) ↑", "auc")):
            lines.append(f"| {label} | " + " | ".join(_fmt(row.get(key)) for row in groups.values())
                         + f" | {_fmt(metrics.get(key))} |")
    if metrics.get("pck150_17j") is not None:
        lines += ["", f"All 17 joints (pelvis and spine included): PCK {_fmt(metrics['pck150_17j'])}, "
                      f"AUC {_fmt(metrics['auc_17j'])}."]
    lines += ["", "PCK: joints within 150 mm, AUC: mean PCK over 0, 5, ..., 150 mm, over the 14 joints of the test "
              "set's evaluation (head top, neck, shoulders, elbows, wrists, hips, knees, ankles), joint-weighted; "
              f"MPJPE over all 17; root-relative (pelvis), on {metrics.get('num_frames', '?')} valid frames."]
    return "\n".join(lines) + "\n"


def format_scalar_table(metrics: Mapping) -> str:
    """Two-column markdown table of a dict's scalar entries (e.g. `evaluate_3dhp`'s)."""
    lines = ["| Metric | Value |", "|:---|---:|"]
    for key, value in metrics.items():
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            text = str(int(value)) if isinstance(value, (int, np.integer)) else _fmt(float(value), 2)
            lines.append(f"| {key} | {text} |")
    return "\n".join(lines) + "\n"


def format_comparison_table(rows: Mapping[str, Mapping]) -> str:
    """Markdown table comparing models (ablations, demo), one row per name.

    rows: name -> {mpjpe, p_mpjpe, flops_per_frame (FLOPs, = 2 x MACs), params (optional)};
    FLOPs are shown in MFLOPs and parameters in millions, like the paper's Table 3.
    """
    lines = ["| Model | MPJPE (mm) | P-MPJPE (mm) | MFLOPs/frame | Params (M) |",
             "|:---|---:|---:|---:|---:|"]
    for name, row in rows.items():
        flops, params = row.get("flops_per_frame"), row.get("params")
        lines.append(" | ".join([
            f"| {name}", _fmt(row.get("mpjpe")), _fmt(row.get("p_mpjpe")),
            _fmt(flops / 1e6 if flops is not None else None),
            _fmt(params / 1e6 if params is not None else None, 2),
        ]) + " |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- plots

def plot_per_joint_error(per_joint_mm: Sequence[float], path: Path, title: str = "") -> None:
    """Bar plot of MPJPE per joint (H36M names when there are 17)."""
    values = np.asarray(per_joint_mm, dtype=float)
    names = H36M_JOINT_NAMES if len(values) == len(H36M_JOINT_NAMES) else [str(i) for i in range(len(values))]
    colors = ["tab:blue" if i in _LEFT_JOINTS else "tab:red" if i in _RIGHT_JOINTS else "tab:gray"
              for i in range(len(values))]
    fig = Figure(figsize=(10, 4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = ax.bar(np.arange(len(values)), values, color=colors)
    ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.axhline(values.mean(), color="k", lw=0.8, ls="--")
    ax.set_ylim(0, max(float(values.max()), 1e-6) * 1.12)
    ax.set_xticks(np.arange(len(values)), names, rotation=45, ha="right")
    ax.set_ylabel("MPJPE (mm)")
    ax.set_title(f"{title or 'Per-joint MPJPE'} (blue: left, red: right, dashed: mean "
                 f"{values.mean():.1f} mm)")
    fig.savefig(path, dpi=110)


def _to_plot_axes(pose_mm: np.ndarray) -> np.ndarray:
    """Camera frame (x right, y down, z forward) -> plot axes (x, depth, up)."""
    return np.stack([pose_mm[:, 0], pose_mm[:, 2], -pose_mm[:, 1]], axis=1)


def _draw_skeleton_3d(ax, pose_mm: np.ndarray, *, ghost: bool = False, label: str | None = None) -> None:
    p = _to_plot_axes(pose_mm)
    for k, (i, j) in enumerate(H36M_BONES):
        if ghost:
            color, lw = "0.55", 1.2
        else:
            color = "tab:blue" if j in _LEFT_JOINTS else "tab:red" if j in _RIGHT_JOINTS else "k"
            lw = 2.0
        ax.plot(*p[[i, j]].T, color=color, lw=lw, ls="--" if ghost else "-",
                label=label if k == 0 else None)
    if not ghost:
        ax.scatter(*p.T, s=6, color="k", depthshade=False)


def _set_equal_3d(ax, poses: Sequence[np.ndarray]) -> None:
    pts = np.concatenate([_to_plot_axes(p) for p in poses])
    center = (pts.max(0) + pts.min(0)) / 2
    half = max(float((pts.max(0) - pts.min(0)).max()) / 2, 1.0) * 1.1
    ax.set_xlim(center[0] - half, center[0] + half)
    ax.set_ylim(center[1] - half, center[1] + half)
    ax.set_zlim(center[2] - half, center[2] + half)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=12, azim=-70)
    ax.tick_params(labelsize=5, pad=0)
    # Negative label padding keeps the labels inside the constrained-layout cell.
    ax.set_xlabel("x (mm)", fontsize=7, labelpad=-4)
    ax.set_ylabel("depth", fontsize=7, labelpad=-4)
    ax.set_zlabel("up", fontsize=7, labelpad=-6)


def _load_image(image) -> np.ndarray:
    if isinstance(image, (str, Path)):
        import cv2  # only needed when the caller passes paths

        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read image {image}")
        return bgr[:, :, ::-1]
    return np.asarray(image)


def pick_frames(pred_mm: np.ndarray, gt_mm: np.ndarray,
                quantiles: Sequence[float] = (0.0, 0.5, 0.9, 1.0)) -> list[int]:
    """Frames at the given quantiles of per-frame MPJPE (best, median, 90th percentile, worst)
    so the figure shows typical and failure cases rather than whatever came first."""
    order = np.argsort(mpjpe(root_relative(pred_mm), root_relative(gt_mm)))
    if len(order) <= len(quantiles):
        return [int(i) for i in order]
    picked = [int(order[round(q * (len(order) - 1))]) for q in quantiles]
    return list(dict.fromkeys(picked))  # drop repeats when there are few frames


def plot_skeletons(pred_mm, gt_mm, path: Path, *, frame_indices: Sequence[int] | None = None,
                   kp2d=None, images=None, title: str = "") -> list[int]:
    """One row per frame: [image with 2D joints | 2D joints] (when given), ground truth 3D,
    prediction overlaid on the ground truth (grey dashed). Poses are drawn root-relative.

    pred_mm, gt_mm: `(N, 17, 3)`; kp2d: `(N, 17, 2)` pixels; images: length-N sequence of
    `(H, W, 3)` RGB arrays or image paths (only the shown frames are read).
    Returns the frame indices drawn.
    """
    pred = root_relative(np.asarray(pred_mm, dtype=float))
    gt = root_relative(np.asarray(gt_mm, dtype=float))
    frames = list(frame_indices) if frame_indices is not None else pick_frames(pred, gt)
    errors = mpjpe(pred, gt)
    show_2d = kp2d is not None or images is not None
    ncols = 3 if show_2d else 2
    fig = Figure(figsize=(3.3 * ncols, 3.5 * len(frames)), layout="constrained")
    FigureCanvasAgg(fig)
    if title:
        fig.suptitle(title)
    for r, n in enumerate(frames):
        col = 1
        if show_2d:
            ax = fig.add_subplot(len(frames), ncols, r * ncols + col)
            if images is not None:
                ax.imshow(_load_image(images[n]))
            if kp2d is not None:
                uv = np.asarray(kp2d[n], dtype=float)[:, :2]
                for i, j in H36M_BONES:
                    color = "tab:blue" if j in _LEFT_JOINTS else "tab:red" if j in _RIGHT_JOINTS else "y"
                    ax.plot(*uv[[i, j]].T, color=color, lw=1.5)
                if images is None:
                    ax.invert_yaxis()
                    ax.set_aspect("equal")
            ax.set_title(f"frame {n}: 2D input", fontsize=8)
            ax.axis("off")
            col += 1
        ax = fig.add_subplot(len(frames), ncols, r * ncols + col, projection="3d")
        _draw_skeleton_3d(ax, gt[n])
        _set_equal_3d(ax, [gt[n], pred[n]])
        ax.set_title("ground truth", fontsize=8)
        ax = fig.add_subplot(len(frames), ncols, r * ncols + col + 1, projection="3d")
        _draw_skeleton_3d(ax, gt[n], ghost=True, label="ground truth")
        _draw_skeleton_3d(ax, pred[n])
        _set_equal_3d(ax, [gt[n], pred[n]])
        ax.set_title(f"prediction (MPJPE {errors[n]:.1f} mm)", fontsize=8)
    fig.savefig(path, dpi=90)
    return frames


# --------------------------------------------------------------------------- entry point

def write_report(metrics: dict, out_dir: Path, *, pred_mm=None, gt_mm=None, kp2d=None, images=None,
                 title: str = "", frame_indices: Sequence[int] | None = None) -> dict[str, Path]:
    """Write metrics.json, table.md and the plots the inputs allow into out_dir.

    metrics: `evaluate_h36m`'s dict (Table 1-shaped), `evaluate_3dhp`'s (Table 2-shaped, per scene
    group and activity) or any flat dict of scalars (two-column table). skeletons.png needs pred_mm and gt_mm.
    Returns {artifact name: path} of what was written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    path = out_dir / "metrics.json"
    path.write_text(json.dumps(to_jsonable(metrics), indent=2, allow_nan=False) + "\n")
    written["metrics"] = path

    if "per_action" in metrics:
        table = format_h36m_table(metrics)
    elif "pck150" in metrics:
        table = format_3dhp_table(metrics, model=title)
    else:
        table = format_scalar_table(metrics)
    path = out_dir / "table.md"
    path.write_text((f"## {title}\n\n" if title else "") + table)
    written["table"] = path

    if metrics.get("per_joint_mpjpe") is not None:
        path = out_dir / "per_joint_error.png"
        plot_per_joint_error(metrics["per_joint_mpjpe"], path, title=title and f"{title}: per-joint MPJPE")
        written["per_joint_error"] = path

    if pred_mm is not None and gt_mm is not None:
        path = out_dir / "skeletons.png"
        plot_skeletons(pred_mm, gt_mm, path, frame_indices=frame_indices, kp2d=kp2d, images=images,
                       title=title)
        written["skeletons"] = path
    return written
