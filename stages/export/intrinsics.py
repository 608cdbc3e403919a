"""The camera of an input clip: pinhole intrinsics from a camera file, or a documented default.

Camera files, in the layouts CAPF already reads:

* an mmpose / Human3.6M ``cameras.pkl``: a dict keyed by ``(subject, camera_id)`` whose entries hold
  ``f`` (2, 1) and ``c`` (2, 1) in pixels, optionally ``w``, ``h``, ``R``, ``T`` (``X_cam = R.T @
  (X_world - T)``), ``k``, ``p``; the entry is chosen by ``key`` ("S9,54138969"), else by the clip's
  name when it follows Human3.6M's ``<subject>_<action>.<camera>`` pattern, else the only entry;
  a pickle holding one such entry directly works too;
* a JSON file with one entry in the same keys (``f``, ``c`` as 2-lists; ``fx``, ``fy``, ``cx``, ``cy``
  are accepted as well), e.g. the ``<clip>.camera.json`` written beside a synthetic clip, which is
  also what is looked for beside a video when no camera is given.

With no camera file, the default is the one the video-based human-mesh trackers use (WHAM, TRAM,
GVHMR): square pixels, the principal point at the frame centre, and a focal length equal to the frame
diagonal in pixels, i.e. a diagonal field of view of 2 atan(1/2) = 53.13 degrees; ``fov_deg`` sets
another diagonal field of view. Lens distortion is not modelled: the root solve is pinhole.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.export import ExportInputError

DEFAULT_DIAGONAL_FOV_DEG = math.degrees(2.0 * math.atan(0.5))  # 53.13: focal length = frame diagonal
# a camera's stated size may differ from the frames' by a few rows (Human3.6M: 1000x1002 frames, 1000x1000 cameras)
SIZE_TOLERANCE = 0.01
_CLIP_NAME = re.compile(r"^(?P<subject>S\d+)_(?P<action>.+)\.(?P<camera>\d+)$")


class CameraError(ExportInputError):
    """A camera file that cannot be read or does not fit the frames; the message names the file."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels; ``up_cam`` is the world's up direction in camera axes when the
    camera's extrinsics are known (None otherwise)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    source: str = ""
    up_cam: tuple[float, float, float] | None = None
    default_fov_deg: float | None = None  # set: the default camera, made for each frame's own size

    def rows(self, sizes_wh: np.ndarray) -> np.ndarray:
        """``(R, 4)`` fx, fy, cx, cy per record from the records' frame sizes ``(R, 2)`` (what
        :func:`stages.export.camera_space.solve_root` takes): the default camera follows each
        frame's size (an image folder may mix sizes), a camera file is one camera."""
        sizes = np.asarray(sizes_wh, dtype=np.float64).reshape(-1, 2)
        if self.default_fov_deg is None:
            return np.tile(np.array([self.fx, self.fy, self.cx, self.cy], dtype=np.float64), (len(sizes), 1))
        focal = np.hypot(sizes[:, 0], sizes[:, 1]) / 2.0 / math.tan(math.radians(self.default_fov_deg) / 2.0)
        return np.stack([focal, focal, sizes[:, 0] / 2.0, sizes[:, 1] / 2.0], axis=1)

    def describe(self) -> str:
        return self.source + (", up from the camera's R" if self.up_cam is not None else "")

    def check_fits(self, width: int, height: int, label: str) -> None:
        """Refuse a camera made for another frame size: a stated size more than 1 % off the frames',
        or (no stated size) a principal point outside the frame or a non-positive focal length."""
        if not (self.fx > 0 and self.fy > 0 and all(math.isfinite(v) for v in (self.fx, self.fy, self.cx, self.cy))):
            raise CameraError(f"{self.source}: focal lengths must be positive and finite, got fx={self.fx}, fy={self.fy}")
        if self.width and self.height:
            if abs(self.width - width) > SIZE_TOLERANCE * width or abs(self.height - height) > SIZE_TOLERANCE * height:
                raise CameraError(f"{self.source}: the camera is for {self.width}x{self.height} frames but {label} has "
                                  f"{width}x{height}; give the camera of this video (or none: --fov)")
        if not (0 <= self.cx <= width and 0 <= self.cy <= height):
            raise CameraError(f"{self.source}: principal point ({self.cx:.1f}, {self.cy:.1f}) px lies outside "
                              f"{label}'s {width}x{height} frames; give the camera of this video (or none: --fov)")


def default_intrinsics(width: int, height: int, fov_deg: float = DEFAULT_DIAGONAL_FOV_DEG) -> Intrinsics:
    """The module docstring's default: centred principal point, square pixels, diagonal field of view."""
    if not 1.0 <= fov_deg <= 179.0:
        raise CameraError(f"--fov {fov_deg}: the diagonal field of view must be between 1 and 179 degrees")
    focal = math.hypot(width, height) / 2.0 / math.tan(math.radians(fov_deg) / 2.0)
    return Intrinsics(focal, focal, width / 2.0, height / 2.0, int(width), int(height),
                      source=f"default camera (diagonal field of view {fov_deg:.2f} deg, f = {focal:.1f} px "
                             f"at {width}x{height})", default_fov_deg=float(fov_deg))


def _from_entry(entry: dict, source: str) -> Intrinsics:
    try:
        if "f" in entry:
            fx, fy = (float(v) for v in np.ravel(np.asarray(entry["f"], dtype=np.float64))[:2])
            cx, cy = (float(v) for v in np.ravel(np.asarray(entry["c"], dtype=np.float64))[:2])
        else:
            fx, fy, cx, cy = (float(entry[k]) for k in ("fx", "fy", "cx", "cy"))
    except (KeyError, TypeError, ValueError) as error:
        raise CameraError(f"{source}: a camera needs f and c (or fx, fy, cx, cy) in pixels ({error!r})") from None
    up = None
    if "R" in entry:
        rotation = np.asarray(entry["R"], dtype=np.float64).reshape(3, 3)
        up = tuple(float(v) for v in rotation.T @ np.array([0.0, 0.0, 1.0]))  # world z (up) in camera axes
    width, height = entry.get("w"), entry.get("h")
    return Intrinsics(fx, fy, cx, cy, int(width) if width else None, int(height) if height else None, source, up)


def _pick_entry(cameras: dict, key: str | None, clip_name: str | None, path: Path) -> tuple[dict, str]:
    if "f" in cameras or "fx" in cameras:
        return cameras, str(path)
    entries = {",".join(map(str, k)) if isinstance(k, tuple) else str(k): v for k, v in cameras.items()}
    if key is None and clip_name and (match := _CLIP_NAME.match(clip_name)):
        key = f"{match['subject']},{match['camera']}"
    if key is None:
        if len(entries) != 1:
            raise CameraError(f"{path}: {len(entries)} cameras; name one with --camera-key (e.g. "
                              f"{next(iter(entries), 'S9,54138969')})")
        key = next(iter(entries))
    if key not in entries:
        raise CameraError(f"{path}: no camera {key!r}; it has {sorted(entries)[:6]}")
    return entries[key], f"{path} [{key}]"


def load_camera(path: Path, *, key: str | None = None, clip_name: str | None = None) -> Intrinsics:
    """Intrinsics (and the up direction, where the file has ``R``) from a camera file (module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise CameraError(f"{path}: camera file not found")
    try:
        if path.suffix == ".json":
            cameras = json.loads(path.read_text())
        else:
            with open(path, "rb") as handle:
                cameras = pickle.load(handle)
    except Exception as error:  # noqa: BLE001 - any unreadable file is one line
        raise CameraError(f"{path}: unreadable camera file ({type(error).__name__}: {error})") from None
    if not isinstance(cameras, dict):
        raise CameraError(f"{path}: expected a camera dict, got {type(cameras).__name__}")
    entry, source = _pick_entry(cameras, key, clip_name, path)
    return _from_entry(entry, source)


def clip_intrinsics(input_path: Path, clip_name: str, sizes_wh: np.ndarray, *, camera: Path | None = None,
                    key: str | None = None, fov_deg: float | None = None) -> Intrinsics:
    """The camera of an input: ``camera`` if given, else a video's ``<stem>.camera.json`` sidecar when it
    exists, else the default with ``fov_deg`` (module docstring); checked against every frame size."""
    if camera is not None and fov_deg is not None:
        raise CameraError(f"{camera}: give a camera file or --fov, not both (--fov sets the default camera)")
    from stages.synth.clip import camera_path

    sidecar = camera_path(input_path)
    if camera is None and fov_deg is None and Path(input_path).is_file() and sidecar.is_file():
        camera = sidecar
    sizes = np.unique(np.asarray(sizes_wh, dtype=np.int64).reshape(-1, 2), axis=0)
    if camera is None:
        width, height = (int(v) for v in sizes[0])
        return default_intrinsics(width, height, DEFAULT_DIAGONAL_FOV_DEG if fov_deg is None else fov_deg)
    intrinsics = load_camera(camera, key=key, clip_name=clip_name)
    for width, height in sizes:
        intrinsics.check_fits(int(width), int(height), str(input_path))
    return intrinsics
