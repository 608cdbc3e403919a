"""The side-by-side picture of ``capf infer``: the frame with the 2D skeletons on the left, the 3D
skeletons on the right, as ``<name>_3d.mp4`` (opencv's VideoWriter) or ``<name>_3d.png`` for one image.

The 3D panel is a matplotlib ``Figure`` (object API, Agg canvas: headless, no pyplot state) whose axes
are fixed for the whole clip, so motion is motion and not the axes rescaling: x (the camera's right),
depth (the camera's forward) and height (up) in millimetres, with a ground plane at height 0 where
each pose stands on its lowest joint (poses are root-relative; the lifter knows no global position).
Several people of a frame stand side by side, 1.2 m apart, in track order (the axes are as wide as
the most people any frame has).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from stages.infer.media import InputClip
from stages.infer.outputs import Predictions
from stages.lift.joints import H36M_LEFT, H36M_RIGHT
from stages.lift.report import H36M_BONES

PERSON_SPACING_MM = 1200.0
HALF_WIDTH_MM = 1000.0
HEIGHT_MM = 2000.0
MAX_PANEL_PX = 720  # frames taller than this are drawn scaled down (rendering time, file size)
_LEFT, _RIGHT = frozenset(H36M_LEFT), frozenset(H36M_RIGHT)
_BGR = {"left": (60, 120, 255), "right": (255, 160, 40), "centre": (90, 220, 90)}


def _side(bone: tuple[int, int]) -> str:
    if set(bone) & _LEFT:
        return "left"
    if set(bone) & _RIGHT:
        return "right"
    return "centre"


def _rgb(side: str) -> tuple[float, float, float]:
    b, g, r = _BGR[side]
    return (r / 255.0, g / 255.0, b / 255.0)


def draw_2d(image: np.ndarray, preds: Predictions, rows: np.ndarray, height_px: int) -> np.ndarray:
    """Boxes, track ids and 2D skeletons of ``rows`` drawn on a copy of ``image`` resized to ``height_px``
    rows (even width, aspect kept)."""
    h, w = image.shape[:2]
    width_px = _even(max(2, round(w * height_px / h)))
    out = cv2.resize(image, (width_px, height_px), interpolation=cv2.INTER_AREA) if (h, w) != (height_px, width_px) \
        else image.copy()
    scale = np.array([width_px / w, height_px / h])
    thick = max(1, round(out.shape[0] / 240))
    for row in rows:
        x1, y1, x2, y2 = (int(round(v)) for v in (preds.box[row].reshape(2, 2) * scale).ravel())
        cv2.rectangle(out, (x1, y1), (x2, y2), (255, 255, 255), 1)
        cv2.putText(out, f"#{int(preds.track[row])}", (x1 + 2, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.4 * thick, (255, 255, 255), thick)
        joints = preds.kp2d[row] * scale
        for bone in H36M_BONES:
            a, b = (tuple(int(round(v)) for v in joints[j]) for j in bone)
            cv2.line(out, a, b, _BGR[_side(bone)], thick + 1, cv2.LINE_AA)
        for point in joints:
            cv2.circle(out, tuple(int(round(v)) for v in point), thick + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out


class SkeletonPanel:
    """A fixed 3D axes over a ground plane; ``draw`` renders one frame's poses to BGR pixels."""

    def __init__(self, size_px: int, max_people: int):
        self.size_px = size_px
        self.x_half = HALF_WIDTH_MM + PERSON_SPACING_MM * (max(max_people, 1) - 1) / 2
        dpi = 100
        self.figure = Figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
        self.canvas = FigureCanvasAgg(self.figure)
        self.axes = self.figure.add_subplot(projection="3d")
        self.figure.subplots_adjust(left=0, right=1, bottom=0, top=1)

    def draw(self, poses_mm: np.ndarray, tracks: np.ndarray, title: str = "") -> np.ndarray:
        """``(P, 17, 3)`` root-relative camera-frame poses -> ``(size, size, 3)`` BGR uint8."""
        ax = self.axes
        ax.cla()
        x_half = self.x_half
        ground_x, ground_y = np.meshgrid(np.linspace(-x_half, x_half, 2), np.linspace(-HALF_WIDTH_MM, HALF_WIDTH_MM, 2))
        ax.plot_surface(ground_x, ground_y, np.zeros_like(ground_x), color=(0.8, 0.8, 0.8), alpha=0.35, shade=False)
        for slot, pose in enumerate(poses_mm[np.argsort(tracks, kind="stable")]):
            # camera (x right, y down, z forward) -> plot (x, depth, height); stand on the lowest joint
            offset = (slot - (len(poses_mm) - 1) / 2) * PERSON_SPACING_MM
            x, depth, height = pose[:, 0] + offset, pose[:, 2], -pose[:, 1]
            height = height - height.min()
            for bone in H36M_BONES:
                ax.plot(x[list(bone)], depth[list(bone)], height[list(bone)], color=_rgb(_side(bone)), linewidth=2)
            ax.scatter(x, depth, height, color="black", s=4)
        ax.set_xlim(-x_half, x_half)
        ax.set_ylim(-HALF_WIDTH_MM, HALF_WIDTH_MM)
        ax.set_zlim(0, HEIGHT_MM)
        ax.set_box_aspect((2 * x_half, 2 * HALF_WIDTH_MM, HEIGHT_MM))
        ax.view_init(elev=15, azim=-75)
        ax.set_xlabel("x (mm)", fontsize=7)
        ax.set_ylabel("depth (mm)", fontsize=7)
        ax.set_zlabel("height (mm)", fontsize=7)
        ax.tick_params(labelsize=6)
        if title:
            ax.set_title(title, fontsize=8, y=0.95)
        self.canvas.draw()
        rgba = np.asarray(self.canvas.buffer_rgba())
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def _even(value: int) -> int:
    return value + (value % 2)


def side_by_side(image: np.ndarray, preds: Predictions, rows: np.ndarray, panel: SkeletonPanel, left_px: int, *,
                 title: str, overlay: Callable[[np.ndarray], None] | None = None) -> np.ndarray:
    """One frame of the picture: ``image`` with the 2D of ``rows`` on the left (``left_px`` wide), their
    3D on ``panel`` on the right; ``(panel, left_px + panel, 3)`` BGR uint8. ``overlay(panel_image)``, if
    given, paints onto the 3D panel (e.g. the ground-path map)."""
    panel_px = panel.size_px
    left = draw_2d(image, preds, rows, panel_px)
    canvas = np.zeros((panel_px, left_px + panel_px, 3), np.uint8)
    canvas[:, :left.shape[1]] = left
    right = panel.draw(preds.kp3d_mm[rows], preds.track[rows], title=title)
    if overlay is not None:
        overlay(right)
    canvas[:, left_px:] = right
    return canvas


def render_side_by_side(out_path: Path, clip: InputClip, preds: Predictions, *, progress: bool = True,
                        overlay: Callable[[np.ndarray, int], None] | None = None) -> Path:
    """Write the side-by-side video (or one PNG when ``out_path`` ends in .png); returns the path.
    ``overlay(panel, k)``, if given, paints onto the 3D panel of frame ``k`` (e.g. the ground-path map)."""
    from tqdm import tqdm

    height = int(clip.sizes_wh[:, 1].max())
    panel_px = _even(min(height, MAX_PANEL_PX))
    most_people = int(np.bincount(preds.frame).max()) if len(preds) else 1
    # frames of an image folder may differ in size: one canvas width fits the widest
    left_px = max(_even(max(2, round(w * panel_px / h))) for w, h in clip.sizes_wh)
    panel = SkeletonPanel(panel_px, most_people)
    writer = None
    bar = tqdm(total=len(clip), desc=f"render {Path(out_path).name}", unit="frame", disable=not progress,
               dynamic_ncols=True)
    try:
        for k in range(len(clip)):
            canvas = side_by_side(clip.frame(k), preds, preds.at_frame(k), panel, left_px, title=f"frame {k}",
                                  overlay=None if overlay is None else (lambda right, k=k: overlay(right, k)))
            if str(out_path).endswith(".png"):
                if not cv2.imwrite(str(out_path), canvas):
                    raise OSError(f"{out_path}: cannot write the picture")
            else:
                if writer is None:
                    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), float(clip.fps),
                                             (canvas.shape[1], canvas.shape[0]))
                    if not writer.isOpened():
                        raise OSError(f"{out_path}: opencv cannot write mp4 here")
                writer.write(canvas)
            bar.update(1)
    finally:
        bar.close()
        if writer is not None:
            writer.release()
    return Path(out_path)
