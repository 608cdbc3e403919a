"""A top view of where each person walked: the camera-space root paths on the ground plane, as an inset.

The ground plane is the one the BVH files stand on (:func:`stages.export.track_bvh.camera_to_file_axes`):
right is the camera's right, up the (levelled) distance from the camera, which sits at the bottom
centre. The whole path of each track is drawn thin, the part already walked thick, and today's
position as a dot, in a fixed square that fits every path of the clip (so the map does not rescale).
"""

from __future__ import annotations

import cv2
import numpy as np

from stages.export.track_bvh import camera_to_file_axes

_COLOURS_BGR = ((40, 160, 255), (255, 120, 60), (90, 220, 90), (200, 80, 220), (60, 220, 220), (220, 220, 60))


class GroundPathMap:
    """``draw(panel, k)`` paints the inset for clip frame ``k`` into a BGR panel, in place."""

    def __init__(self, root_cam_mm: np.ndarray, track: np.ndarray, frame: np.ndarray, up_cam: np.ndarray,
                 *, size_fraction: float = 0.32):
        axes = camera_to_file_axes(up_cam)
        ground = np.asarray(root_cam_mm, dtype=np.float64) @ axes.T
        self.xy_mm = np.stack([ground[:, 0], -ground[:, 2]], axis=1)  # (right, distance)
        self.track, self.frame = np.asarray(track), np.asarray(frame)
        good = np.isfinite(self.xy_mm).all(axis=1)
        self.good = good
        if good.any():  # the camera at the bottom centre, every path inside
            xs, ds = self.xy_mm[good, 0], self.xy_mm[good, 1]
            self.half_mm = 1.1 * max(np.abs(xs).max(), ds.max() / 2.0, 500.0)
            self.centre_mm = np.array([0.0, 0.95 * self.half_mm])
        self.size_fraction = size_fraction

    def _to_px(self, xy_mm: np.ndarray, size: int) -> np.ndarray:
        rel = (xy_mm - self.centre_mm) / self.half_mm  # [-1, 1]
        return np.stack([(rel[:, 0] + 1) / 2 * (size - 1), (1 - rel[:, 1]) / 2 * (size - 1)], axis=1)

    def draw(self, panel: np.ndarray, k: int) -> None:
        if not self.good.any():
            return
        size = max(48, int(min(panel.shape[:2]) * self.size_fraction))
        inset = np.full((size, size, 3), 245, np.uint8)
        camera = self._to_px(np.zeros((1, 2)), size)[0]
        cv2.drawMarker(inset, tuple(int(v) for v in camera), (0, 0, 0), cv2.MARKER_TRIANGLE_UP, 8, 1)
        for slot, t in enumerate(np.unique(self.track)):
            rows = np.flatnonzero((self.track == t) & self.good)
            rows = rows[np.argsort(self.frame[rows], kind="stable")]
            if len(rows) == 0:
                continue
            colour = _COLOURS_BGR[slot % len(_COLOURS_BGR)]
            points = self._to_px(self.xy_mm[rows], size).round().astype(np.int32)
            cv2.polylines(inset, [points], False, colour, 1, cv2.LINE_AA)
            walked = points[self.frame[rows] <= k]
            if len(walked):
                cv2.polylines(inset, [walked], False, colour, 2, cv2.LINE_AA)
                if self.frame[rows][len(walked) - 1] == k:
                    cv2.circle(inset, tuple(int(v) for v in walked[-1]), 3, colour, -1, cv2.LINE_AA)
        cv2.putText(inset, "top view", (3, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.rectangle(inset, (0, 0), (size - 1, size - 1), (120, 120, 120), 1)
        panel[-size:, -size:] = inset
