"""The side-by-side picture of ``capf live``, frame by frame: into ``--video OUT.mp4`` and/or a window
(``--show``), with ``capf infer``'s own drawing (``stages.infer.render.side_by_side``).

A window needs a display and an OpenCV build with a GUI (opencv-python-headless has none): without
either, ``--show`` says so in one line and the run goes on without it.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from stages.infer.outputs import Predictions
from stages.infer.render import MAX_PANEL_PX, SkeletonPanel, side_by_side

WINDOW = "capf live"
PANEL_PEOPLE = 2  # the 3D axes are sized for this many people side by side


def display_problem() -> str | None:
    """Why no window can open here, or None."""
    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display ($DISPLAY is not set)"
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in ("NONE", "NO"):
        return "this OpenCV has no GUI (opencv-python-headless)"
    return None


class LiveView:
    """Draws each output frame once and hands it to the video file and the window."""

    def __init__(self, size_wh: tuple[int, int], fps: float, *, video: Path | None, show: bool):
        width, height = size_wh
        self.panel_px = min(height, MAX_PANEL_PX) + min(height, MAX_PANEL_PX) % 2
        self.left_px = max(2, round(width * self.panel_px / height))
        self.left_px += self.left_px % 2
        self.panel = SkeletonPanel(self.panel_px, PANEL_PEOPLE)
        self.writer = None
        if video is not None:
            Path(video).parent.mkdir(parents=True, exist_ok=True)
            self.writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                          (self.left_px + self.panel_px, self.panel_px))
            if not self.writer.isOpened():
                raise OSError(f"{video}: opencv cannot write mp4 here")
        self.show = show

    def add(self, image: np.ndarray, preds: Predictions, frame: int) -> bool:
        """Draw one frame; False when the user closed the window or pressed q / Esc."""
        canvas = side_by_side(image, preds, preds.at_frame(frame), self.panel, self.left_px, title=f"frame {frame}")
        if self.writer is not None:
            self.writer.write(canvas)
        if self.show:
            cv2.imshow(WINDOW, canvas)
            if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
                return False
        return True

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
        if self.show:
            cv2.destroyWindow(WINDOW)
