"""Human3.6M-like cameras: four fixed cameras per subject around a capture area.

The dict layout and conventions are those of Human3.6M's ``cameras.pkl`` as used by mmpose:
``X_cam = R.T @ (X_world - T)`` with ``T`` the camera centre in metres (world z up), camera axes
x right, y down, z forward; ``f``, ``c`` in pixels. Distortion is zero, so the pinhole projection of
the camera-frame joints is exact.
"""

from __future__ import annotations

import numpy as np

# Human3.6M's four camera serial numbers, reused so that names look like the real dataset's.
H36M_CAMERA_IDS: tuple[str, ...] = ("54138969", "55011271", "58860488", "60457274")
H36M_FOCAL_PX_AT_1000 = 1145.0  # Human3.6M's focal length for its 1000-px-wide frames


def look_at_rotation(centre_m: np.ndarray, target_m: np.ndarray) -> np.ndarray:
    """(3,), (3,) -> (3, 3) R whose columns are the camera's x (right), y (down), z (forward) axes."""
    forward = target_m - centre_m
    forward = forward / np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 0.0, 1.0]))
    right = right / np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward], axis=1)


def make_subject_cameras(subject: str, seed: int, image_size: tuple[int, int]) -> dict[tuple[str, str], dict]:
    """The four cameras of one subject (deterministic in ``seed`` and the subject's number).

    Cameras stand 3.5-6 m from the capture area's centre at roughly 90 degree steps of azimuth,
    0.5-2.8 m high (so elevations range from slightly below to well above the subject), looking at a
    point near hip height.
    """
    width, height = image_size
    rng = np.random.default_rng([seed, 3, int(subject.lstrip("S"))])
    azimuth0 = rng.uniform(0.0, 2.0 * np.pi)
    cameras = {}
    for k, cam_id in enumerate(H36M_CAMERA_IDS):
        azimuth = azimuth0 + k * 0.5 * np.pi + rng.uniform(-0.35, 0.35)
        distance_m = rng.uniform(3.5, 6.0)
        centre = np.array([distance_m * np.cos(azimuth), distance_m * np.sin(azimuth), rng.uniform(0.5, 2.8)])
        target = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.1)])
        focal = H36M_FOCAL_PX_AT_1000 * width / 1000.0 * rng.uniform(0.99, 1.01, size=2)
        principal = np.array([width / 2.0, height / 2.0]) + rng.uniform(-0.01, 0.01, size=2) * width
        cameras[(subject, cam_id)] = {
            "R": look_at_rotation(centre, target),
            "T": centre.reshape(3, 1),
            "c": principal.reshape(2, 1),
            "f": focal.reshape(2, 1),
            "k": np.zeros((3, 1)),
            "p": np.zeros((2, 1)),
            "w": int(width),
            "h": int(height),
            "name": f"camera{k + 1}",
            "id": cam_id,
        }
    return cameras


def world_to_camera(points_world: np.ndarray, camera: dict) -> np.ndarray:
    """(..., 3) world points -> (..., 3) camera-frame points (same units as ``camera['T']``)."""
    return (points_world - camera["T"][:, 0]) @ camera["R"]


def project(points_cam: np.ndarray, camera: dict) -> np.ndarray:
    """Pinhole projection (zero distortion): (..., 3) camera-frame points -> (..., 2) pixels."""
    return points_cam[..., :2] / points_cam[..., 2:3] * camera["f"][:, 0] + camera["c"][:, 0]
