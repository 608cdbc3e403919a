"""Write the synthetic MPI-INF-3DHP training set in its official layout (what the dataset ships).

    mpi_inf_3dhp/S<s>/Seq<q>/annot.mat                 MATLAB v5 (scipy.io.savemat): cameras (1 x 14),
                                                       frames (N x 1), annot2 / annot3 / univ_annot3 as
                                                       14 x 1 cell arrays of N x 56 / N x 84 (28 joints)
    mpi_inf_3dhp/S<s>/Seq<q>/camera.calibration        Skeletool text, 14 cameras (intrinsic, extrinsic in mm)
    mpi_inf_3dhp/S<s>/Seq<q>/imageSequence/video_<c>.avi   one MJPG video per rendered camera
    mpi_inf_3dhp/images/s_<ss>_seq_<qq>_ca_<cc>/s_<ss>_seq_<qq>_ca_<cc>_<frame+1:06d>.jpg
                                                       the same frames as JPEGs, named as the authors'
                                                       video_to_images.py names ffmpeg's output

Every time step of a sequence is seen by every camera, as in the real studio: the mmpose layout's
body of that step (in the one camera that drew it) is taken back to the world and projected into
all 14 cameras. Where it departs from the real files: only the 8 cameras the authors train on
(0-2, 4-8) are rendered (cameras 3 and 9-13 have labels and calibration but no video); the 11 of
the 28 mocap joints that no reader takes (spine 3/4, spine 2, clavicles, hands, feet, toes) are
placeholders built from their neighbours; the calibration's `sensor` is 10 x 10 mm and nothing
else in it (lens distortion, `animated`) is modelled.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stages.common.joint_sets import H36M_TO_MPI3DHP, MPI3DHP_28_TO_17, MPI3DHP_NUM_MOCAP_JOINTS
from stages.synth.cameras import project, world_to_camera

TRAIN_DIR = "mpi_inf_3dhp"
NUM_STUDIO_CAMERAS = 14
VIDEO_FPS = 25.0

# The 11 mocap joints outside the relevant 17, each placed between two relevant ones (3DHP 17-joint
# indices, weight of the first): spine3, spine4, spine2, l/r clavicle, l/r hand, l/r foot, l/r toe.
_PLACEHOLDERS: dict[int, tuple[int, int, float]] = {
    0: (15, 1, 0.5), 1: (1, 15, 0.8), 2: (15, 14, 0.5), 8: (1, 5, 0.6), 13: (1, 2, 0.6),
    12: (7, 6, 1.25), 17: (4, 3, 1.25), 21: (13, 12, 1.15), 26: (10, 9, 1.15), 22: (13, 12, 1.3), 27: (10, 9, 1.3),
}


def mocap28(joints17: np.ndarray) -> np.ndarray:
    """``(N, 17, D)`` relevant joints (3DHP order) -> ``(N, 28, D)`` in annot.mat's 28-joint order:
    the 17 in their rows, the other 11 interpolated (or extrapolated past a limb's end) from two."""
    out = np.zeros((joints17.shape[0], MPI3DHP_NUM_MOCAP_JOINTS, joints17.shape[2]), dtype=np.float64)
    out[:, list(MPI3DHP_28_TO_17)] = joints17
    for row, (a, b, w) in _PLACEHOLDERS.items():
        out[:, row] = w * joints17[:, a] + (1.0 - w) * joints17[:, b]
    return out


def camera_to_world(points_cam: np.ndarray, camera: dict) -> np.ndarray:
    """Inverse of :func:`stages.synth.cameras.world_to_camera` (same units as ``camera['T']``)."""
    return points_cam @ camera["R"].T + camera["T"][:, 0]


def calibration_text(cameras: dict[int, dict]) -> str:
    """A Skeletool camera.calibration: per camera its size, a row-major 4 x 4 intrinsic (pixels) and
    extrinsic (world -> camera, mm), as the dataset ships it."""
    lines = ["Skeletool Camera Calibration File V1.0"]
    for number, cam in sorted(cameras.items()):
        fx, fy, cx, cy = cam["f"][0, 0], cam["f"][1, 0], cam["c"][0, 0], cam["c"][1, 0]
        rotation = cam["R"].T  # X_cam = R_ext X_world + T_ext
        translation_mm = -rotation @ cam["T"][:, 0] * 1000.0
        extrinsic = np.eye(4)
        extrinsic[:3, :3], extrinsic[:3, 3] = rotation, translation_mm
        intrinsic = [fx, 0, cx, 0, 0, fy, cy, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        lines += [f"name          {number}", "  sensor      10 10", f"  size        {cam['w']} {cam['h']}",
                  "  animated    0", "  intrinsic   " + " ".join(f"{v:.6f}" for v in intrinsic),
                  "  extrinsic   " + " ".join(f"{v:.6f}" for v in extrinsic.ravel()), "  radial      0"]
    return "\n".join(lines) + "\n"


def write_annotation(path: Path, frames: int, per_camera: dict[int, dict[str, np.ndarray]]) -> None:
    """annot.mat as MATLAB v5 with 14 x 1 cell arrays (what scipy.io.loadmat shows of the real file).

    per_camera: {camera: {'annot2': (N, 17, 2), 'annot3': (N, 17, 3), 'univ_annot3': (N, 17, 3)}}."""
    from scipy.io import savemat

    cells = {name: np.empty((NUM_STUDIO_CAMERAS, 1), dtype=object) for name in ("annot2", "annot3", "univ_annot3")}
    for camera in range(NUM_STUDIO_CAMERAS):
        for name, cell in cells.items():
            joints = mocap28(per_camera[camera][name])
            cell[camera, 0] = joints.reshape(frames, -1)  # x1 y1 (z1) x2 ... per row
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"cameras": np.arange(NUM_STUDIO_CAMERAS, dtype=np.float64)[None, :],
                        "frames": np.arange(frames, dtype=np.float64)[:, None], **cells},
            format="5", do_compression=False)


def write_video(path: Path, images: list[Path], size_wh: tuple[int, int]) -> None:
    """The JPEGs of one camera as an MJPG .avi (OpenCV), renamed into place when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), VIDEO_FPS, tuple(size_wh))
    if not writer.isOpened():
        raise RuntimeError(f"{tmp}: opencv cannot write MJPG .avi here")
    try:
        for image in images:
            frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if frame is None:
                raise RuntimeError(f"{image}: not written")
            writer.write(frame)
    finally:
        writer.release()
    tmp.replace(path)


def image_name(subject: int, sequence: int, camera: int, frame: int) -> str:
    """``s_01_seq_02_ca_04/s_01_seq_02_ca_04_000001.jpg`` (frame 0-based in, 1-based in the name)."""
    folder = f"s_{subject:02d}_seq_{sequence:02d}_ca_{camera:02d}"
    return f"{folder}/{folder}_{frame + 1:06d}.jpg"


def plan_views(steps_cam_mm: list[np.ndarray], chosen: list[dict], cameras: dict[int, dict], bones_of) -> dict:
    """Every camera's labels of a sequence's time steps.

    steps_cam_mm: per step the body ``(17, 3)`` (H36M order, mm) in the camera that drew it (``chosen``);
    bones_of: ``(17, 3)`` camera-frame body -> its universal-skeleton version (H36M order).
    Returns {camera: {'h36m_mm': (N, 17, 3), 'annot2': (N, 17, 2), 'annot3', 'univ_annot3': 3DHP order}}.
    """
    to_3dhp = list(H36M_TO_MPI3DHP)  # 3DHP joint k sits in H36M slot to_3dhp[k]
    world = np.stack([camera_to_world(cam_mm / 1000.0, cam) for cam_mm, cam in zip(steps_cam_mm, chosen)])
    views = {}
    for number, cam in cameras.items():
        cam_mm = world_to_camera(world, cam) * 1000.0  # (N, 17, 3) H36M order
        univ = np.stack([bones_of(body) for body in cam_mm])
        views[number] = {"h36m_mm": cam_mm, "annot3": cam_mm[:, to_3dhp], "univ_annot3": univ[:, to_3dhp],
                         "annot2": project(cam_mm / 1000.0, cam)[:, to_3dhp]}
    return views


__all__ = ["TRAIN_DIR", "calibration_text", "camera_to_world", "image_name",
           "mocap28", "plan_views", "write_annotation", "write_video"]
