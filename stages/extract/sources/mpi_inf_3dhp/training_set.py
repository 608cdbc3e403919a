"""The official MPI-INF-3DHP training set, read as it ships (S1 ... S8, Seq1 and Seq2).

    <train root>/S<s>/Seq<q>/annot.mat          MATLAB v5 (scipy.io.loadmat), as loadmat shows it:
        cameras       (1, 14)                   camera ids 0 ... 13: the row order of the cells below
        frames        (N, 1)                    video frame of each annotation row (0-based)
        annot2        (14, 1) cells, (N, 56)    per camera: the 28 mocap joints in pixels, x1 y1 x2 y2 ...
        annot3        (14, 1) cells, (N, 84)    per camera: camera-frame mm, x1 y1 z1 x2 ...
        univ_annot3   (14, 1) cells, (N, 84)    the same motion on the universal skeleton (fixed bones)
    <train root>/S<s>/Seq<q>/camera.calibration  Skeletool text: per camera `size` and a row-major 4x4
                                                 `intrinsic` in pixels (fx 0 cx 0 / 0 fy cy 0 / ...)
    frames='video':  <train root>/S<s>/Seq<q>/imageSequence/video_<c>.avi, decoded with OpenCV
    frames='images': <train root>/images/s_<ss>_seq_<qq>_ca_<cc>/s_<ss>_seq_<qq>_ca_<cc>_<frame+1:06d>.jpg
                     (the names the authors' video_to_images.py gives ffmpeg's output)

The 17 relevant joints are taken from the 28 (`stages.common.joint_sets.MPI3DHP_28_TO_17`), in the
test set's order. A video usually holds fewer frames than its annotation has rows: the rows past
its end are not indexed (the authors cut each sequence to `mpii_get_sequence_info`'s count, which
is the video's length).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stages.common.joint_sets import MPI3DHP_28_TO_17, MPI3DHP_NUM_MOCAP_JOINTS
from stages.extract.sources.base import SourceError, image_sizes_wh, square_boxes_from_joints, video_frame_name
from stages.extract.sources.mpi_inf_3dhp.common import UNLABELLED, Mpi3dhpFrames

TRAIN_SEQUENCE_PATTERN = re.compile(r"^S(?P<subject>\d+)/Seq(?P<sequence>\d+)$")
TRAIN_ANNOTATION_FIELDS = ("cameras", "frames", "annot2", "annot3", "univ_annot3")
FRAME_SOURCES = ("video", "images")
CALIBRATION_FILE = "camera.calibration"


def is_training_annotation(path: Path) -> bool:
    """``.../S<s>/Seq<q>/annot.mat``: a training sequence (the test set's files are TS<n>/annot_data.mat)."""
    path = Path(path)
    return path.name == "annot.mat" and bool(TRAIN_SEQUENCE_PATTERN.match(f"{path.parent.parent.name}/{path.parent.name}"))


def image_folder_name(subject: int, sequence: int, camera: int) -> str:
    """The authors' extracted-frame folder (and file prefix) of one camera: ``s_01_seq_02_ca_04``."""
    return f"s_{subject:02d}_seq_{sequence:02d}_ca_{camera:02d}"


@dataclass(frozen=True)
class CalibratedCamera:
    """One camera of a sequence's camera.calibration: its calibrated frame size and pinhole intrinsics."""

    size_wh: tuple[int, int]
    focal_px: tuple[float, float]
    centre_px: tuple[float, float]

    def intrinsics(self, image_wh: tuple[int, int]) -> np.ndarray:
        """(9,) fx fy cx cy k1 k2 k3 p1 p2 for frames of ``image_wh`` (a resized copy scales them)."""
        ratio = np.asarray(image_wh, dtype=np.float64) / np.asarray(self.size_wh, dtype=np.float64)
        focal, centre = np.asarray(self.focal_px) * ratio, np.asarray(self.centre_px) * ratio
        return np.array([*focal, *centre, 0, 0, 0, 0, 0], dtype=np.float32)


def read_calibration(path: Path) -> dict[int, CalibratedCamera]:
    """{camera id: CalibratedCamera} of a Skeletool camera.calibration; a missing file or a camera
    without `size` and `intrinsic` lines stops with one line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: camera calibration not found")
    cameras: dict[int, dict[str, list[float]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "name":
                current = cameras.setdefault(int(parts[1]), {})
            elif current is not None and parts[0] in ("size", "intrinsic"):
                current[parts[0]] = [float(v) for v in parts[1:]]
        except (IndexError, ValueError):
            raise SourceError(f"{path}:{number}: malformed calibration line {line.strip()!r}") from None
    out = {}
    for camera, fields in cameras.items():
        if len(fields.get("size", ())) != 2 or len(fields.get("intrinsic", ())) != 16:
            raise SourceError(f"{path}: camera {camera} lacks a 'size' (2 values) or 'intrinsic' (16 values) line")
        k = fields["intrinsic"]
        out[camera] = CalibratedCamera((int(fields["size"][0]), int(fields["size"][1])), (k[0], k[5]), (k[2], k[6]))
    return out


def _load_annotation(path: Path) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    if not path.is_file():
        raise SourceError(f"{path}: annotation file not found")
    try:
        mat = loadmat(str(path))
    except Exception as error:  # scipy's MatReadError, ValueError, NotImplementedError (a v7.3 file), ...
        raise SourceError(f"{path}: not a MATLAB v5 .mat file ({type(error).__name__}: {error})") from error
    missing = [name for name in TRAIN_ANNOTATION_FIELDS if name not in mat]
    if missing:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise SourceError(f"{path}: malformed annotation: missing field '{missing[0]}' (has {present})")
    return mat


def _camera_block(cells: np.ndarray, row: int, dims: int, n: int, field: str, path: Path) -> np.ndarray:
    """(n, 17, dims) relevant joints of one camera's cell of annot2/annot3/univ_annot3."""
    values = np.asarray(cells.reshape(-1)[row], dtype=np.float64)
    width = MPI3DHP_NUM_MOCAP_JOINTS * dims
    if values.ndim != 2 or values.shape[1] != width or len(values) < n:
        raise SourceError(f"{path}: malformed annotation: '{field}' of camera row {row} has shape {values.shape}, "
                          f"expected ({n}, {width}) (28 joints x {dims})")
    return values[:n].reshape(n, MPI3DHP_NUM_MOCAP_JOINTS, dims)[:, list(MPI3DHP_28_TO_17)]


def _video_frames(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    if count <= 0 or size[0] <= 0:
        raise SourceError(f"{path}: video not found or not readable")
    return count, size


def read_training_sequence(path: Path, root: Path, *, cameras: tuple[int, ...], joints_3d: str, frames: str,
                           frame_step: int = 1) -> Mpi3dhpFrames:
    """Every kept frame of the given cameras of one S<s>/Seq<q>/annot.mat; names relative to ``root``."""
    path, root = Path(path), Path(root)
    if frames not in FRAME_SOURCES:
        raise SourceError(f"dataset.train_frames must be one of {FRAME_SOURCES}, got {frames!r}")
    match = TRAIN_SEQUENCE_PATTERN.match(f"{path.parent.parent.name}/{path.parent.name}")
    subject, sequence = int(match["subject"]), int(match["sequence"])
    mat = _load_annotation(path)
    camera_ids = [int(c) for c in np.asarray(mat["cameras"]).reshape(-1)]
    frame_of_row = np.asarray(mat["frames"]).reshape(-1).astype(np.int64)
    calibration = read_calibration(path.parent / CALIBRATION_FILE)
    parts: list[Mpi3dhpFrames] = []
    for camera in cameras:
        if camera not in camera_ids or camera not in calibration:
            raise SourceError(f"{path}: camera {camera} is not in its 'cameras' {camera_ids} "
                              f"or in {path.parent / CALIBRATION_FILE}")
        if frames == "video":
            video = path.parent / "imageSequence" / f"video_{camera}.avi"
            count, size = _video_frames(video)
            relative = video.relative_to(root).as_posix()
        else:
            folder_name = image_folder_name(subject, sequence, camera)
            folder = path.parent.parent.parent / "images" / folder_name
            if not folder.is_dir():
                raise SourceError(f"{folder}: extracted frames of {path} camera {camera} not found")
            count = sum(1 for entry in folder.iterdir() if entry.suffix == ".jpg")
            relative = folder.relative_to(root).as_posix()
            if count and not (folder / f"{folder_name}_{count:06d}.jpg").is_file():
                raise SourceError(f"{folder}: {count} frames but no {folder_name}_{count:06d}.jpg: expected "
                                  f"{folder_name}_000001.jpg ... numbered without gaps")
            size = tuple(int(v) for v in image_sizes_wh(folder, [f"{folder_name}_{1:06d}.jpg"])[0])
        rows = np.flatnonzero((frame_of_row >= 0) & (frame_of_row < count))[::frame_step]
        if len(rows) == 0:
            continue
        n = int(rows[-1]) + 1
        row = camera_ids.index(camera)
        joints2d = _camera_block(mat["annot2"], row, 2, n, "annot2", path)[rows]
        joints3d = _camera_block(mat[joints_3d], row, 3, n, joints_3d, path)[rows]
        video_frames = frame_of_row[rows]
        names = ([video_frame_name(relative, int(f)) for f in video_frames] if frames == "video" else
                 [f"{relative}/{image_folder_name(subject, sequence, camera)}_{f + 1:06d}.jpg" for f in video_frames])
        key = f"S{subject}_Seq{sequence}_Cam{camera}"
        parts.append(Mpi3dhpFrames(
            image_names=names, subject=[f"S{subject}"] * len(rows), sequence=[f"S{subject}_Seq{sequence}"] * len(rows),
            camera_key=[key] * len(rows), activity=[UNLABELLED] * len(rows), frame_numbers=video_frames + 1,
            boxes_xyxy=square_boxes_from_joints(joints2d), sizes_wh=np.tile(np.asarray(size, np.int32), (len(rows), 1)),
            joints3d_mm=joints3d, joints2d_px=joints2d,
            intrinsics=np.tile(calibration[camera].intrinsics(size), (len(rows), 1))))
    if not parts:
        raise SourceError(f"{path}: no frames for cameras {list(cameras)}")
    return Mpi3dhpFrames.concatenate(parts)
