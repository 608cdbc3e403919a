"""MPI-INF-3DHP as it ships: the official test set (TS1 ... TS6) and training set (S1 ... S8).

`annotation` lists the files to read, relative to DATA_ROOT: `TS<n>/annot_data.mat` (test, below) and
`S<s>/Seq<q>/annot.mat` (training, `training_set.py`), in any mix; one store then holds both splits,
one `joints_3d` for all of them.

    <root>/TS<n>/annot_data.mat                   MATLAB v7.3 = HDF5, read with h5py; as h5py shows it
        valid_frame          (N, 1)               1 where the annotation is reliable (the protocol's frames)
        annot2               (N, 1, 17, 2)        pixels
        annot3, univ_annot3  (N, 1, 17, 3)        camera frame, mm (univ: the universal skeleton, same motion)
        activity_annotation  (N, 1)               1..7 (common.ACTIVITY_NAMES)
        bb_crop                                   present in the release, layout undocumented: not read
    <root>/TS<n>/imageSequence/img_<row+1:06d>.jpg   every frame, valid or not

Joints are in 3DHP's 17-joint test order (MATLAB's `2 x 17 x 1 x N` seen reversed by h5py). Only
valid frames are indexed. 3D ground truth is `univ_annot3` by default, the array the test set's own
evaluation code (`test_util/mpii_test_predictions.m`) scores against, or `annot3`; the choice enters
the store's key. Person boxes come from the 2D joints (square, 1.2 x their extent, as mmpose's
converter makes them). Intrinsics come from the calibration table in `common` (or an mmpose
`cameras_test.pkl` when `cameras` is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.extract.sources.base import SourceError, image_sizes_per_video, square_boxes_from_joints
from stages.extract.sources.h36m import load_cameras_pickle
from stages.extract.sources.matlab import read_mat73
from stages.common.joint_sets import JOINTS_3D_CHOICES, MPI3DHP_AUTHORS_TRAIN_CAMERAS
from stages.extract.sources.mpi_inf_3dhp.common import (TEST_SEQUENCE_PATTERN, Mpi3dhpFrames, activity_names,
                                                        assemble_index, pickle_intrinsics, table_intrinsics)
from stages.extract.sources.mpi_inf_3dhp.training_set import is_training_annotation, read_training_sequence

ANNOTATION_FIELDS = ("valid_frame", "annot2", "annot3", "univ_annot3", "activity_annotation")
IMAGE_FOLDER = "imageSequence"


@dataclass
class TestSequence:
    """One TS<n>/annot_data.mat, reshaped frames-first and checked against itself."""

    name: str  # TS<n>
    valid: np.ndarray  # (N,) bool
    annot2_px: np.ndarray  # (N, 17, 2)
    annot3_mm: np.ndarray  # (N, 17, 3)
    univ_annot3_mm: np.ndarray  # (N, 17, 3)
    activity: list[str]  # (N,)


def _frames_first(values: np.ndarray, per_frame: tuple[int, ...], n: int, field: str, path: Path) -> np.ndarray:
    size = int(np.prod(per_frame))
    if values.size != n * size:
        raise SourceError(f"{path}: malformed annotation: '{field}' holds {values.size} values, expected "
                          f"{n} frames (valid_frame) x {' x '.join(map(str, per_frame))}")
    return values.reshape(n, *per_frame).astype(np.float64)


def read_test_sequence(path: Path) -> TestSequence:
    """Read and check one test sequence's annotation file; its folder name must be TS1 ... TS6."""
    path = Path(path)
    name = path.parent.name
    if TEST_SEQUENCE_PATTERN.match(name) is None:
        raise SourceError(f"{path}: the annotation's folder must be one of TS1 ... TS6 (it names the sequence "
                          f"and its scene group), not {name!r}")
    arrays = read_mat73(path, ANNOTATION_FIELDS)
    valid = arrays["valid_frame"].reshape(-1)
    n = len(valid)
    return TestSequence(
        name=name,
        valid=valid.astype(bool),
        annot2_px=_frames_first(arrays["annot2"], (17, 2), n, "annot2", path),
        annot3_mm=_frames_first(arrays["annot3"], (17, 3), n, "annot3", path),
        univ_annot3_mm=_frames_first(arrays["univ_annot3"], (17, 3), n, "univ_annot3", path),
        activity=activity_names(_frames_first(arrays["activity_annotation"], (), n, "activity_annotation", path),
                                str(path)),
    )


def _count_images(folder: Path, label: Path) -> int:
    """Frames in a sequence's image folder; a missing or empty folder is an error naming it."""
    if not folder.is_dir():
        raise SourceError(f"{folder}: image folder of {label} not found")
    count = sum(1 for entry in folder.iterdir() if entry.name.startswith("img_") and entry.suffix == ".jpg")
    if count == 0:
        raise SourceError(f"{folder}: no images (expected img_000001.jpg ...) for {label}")
    return count


class OfficialLayoutSource:
    """Frames of the official training and test sequences, with labels, boxes and 3D in camera-frame mm."""

    def __init__(self, root: Path, annotation: str | list[str], cameras: str | list[str] | None, joints_3d: str,
                 dataset: str, *, train_cameras: tuple[int, ...] = MPI3DHP_AUTHORS_TRAIN_CAMERAS,
                 train_frames: str = "video", train_frame_step: int = 1, crop: str = "annotation"):
        if joints_3d not in JOINTS_3D_CHOICES:
            raise SourceError(f"dataset.joints_3d must be one of {JOINTS_3D_CHOICES}, got {joints_3d!r}")
        if int(train_frame_step) < 1:
            raise SourceError(f"dataset.train_frame_step must be 1 or more, got {train_frame_step!r}")
        self.root = Path(root)
        names = [annotation] if isinstance(annotation, str) else list(annotation)
        self.annotation_paths = [self.root / name for name in names]
        camera_files = [] if cameras is None else [cameras] if isinstance(cameras, str) else list(cameras)
        self.camera_paths = [self.root / name for name in camera_files]
        self.joints_3d, self.dataset, self.crop = joints_3d, dataset, crop
        self.train_cameras = tuple(int(c) for c in train_cameras)
        self.train_frames, self.train_frame_step = train_frames, int(train_frame_step)

    def frame_index(self):
        train_paths = [p for p in self.annotation_paths if is_training_annotation(p)]
        test_paths = [p for p in self.annotation_paths if not is_training_annotation(p)]
        parts = [read_training_sequence(path, self.root, cameras=self.train_cameras, joints_3d=self.joints_3d,
                                        frames=self.train_frames, frame_step=self.train_frame_step)
                 for path in train_paths]
        if test_paths:
            parts.append(self._test_frames(test_paths))
        label = ", ".join(str(p) for p in self.annotation_paths)
        return assemble_index(self.dataset, self.root, Mpi3dhpFrames.concatenate(parts), label,
                              key_extra={"gt3d": self.joints_3d, **self._train_key()}, joints_3d=self.joints_3d,
                              crop=self.crop)

    def _train_key(self) -> dict[str, str]:
        """Training choices that change the frames but not their names' list alone (the frame source
        does: a video and its extracted JPEGs decode to different pixels)."""
        if not any(is_training_annotation(p) for p in self.annotation_paths):
            return {}
        return {"train_frames": self.train_frames}

    def _test_frames(self, paths: list[Path]) -> Mpi3dhpFrames:
        sequences = [read_test_sequence(path) for path in paths]
        names, seq_of_frame, rows = [], [], []
        for path, seq in zip(paths, sequences):
            folder = path.parent / IMAGE_FOLDER
            count = _count_images(folder, path)
            if count != len(seq.valid):
                raise SourceError(f"{path}: valid_frame has {len(seq.valid)} frames but {folder} holds {count} "
                                  "images; the annotation and the images are from different releases or cut")
            valid_rows = np.flatnonzero(seq.valid)
            relative = folder.relative_to(self.root).as_posix()  # names stay relative: the key survives a move
            names += [f"{relative}/img_{r + 1:06d}.jpg" for r in valid_rows]
            seq_of_frame += [seq.name] * len(valid_rows)
            rows.append(valid_rows)
        sizes = image_sizes_per_video(self.root, names, seq_of_frame)

        def valid_rows_of(field: str) -> np.ndarray:
            return np.concatenate([getattr(seq, field)[r] for seq, r in zip(sequences, rows)])

        joints2d = valid_rows_of("annot2_px")
        cameras = {}
        for path in self.camera_paths:
            cameras.update(load_cameras_pickle(path))
        label = ", ".join(str(p) for p in paths)
        intrinsics = np.empty((len(names), 9), dtype=np.float32)
        for i, (sequence, size) in enumerate(zip(seq_of_frame, sizes)):
            if self.camera_paths:
                if sequence not in cameras:
                    raise SourceError(f"{self.camera_paths[0]}: no camera '{sequence}'")
                intrinsics[i] = pickle_intrinsics(cameras[sequence])
            else:
                intrinsics[i] = table_intrinsics(sequence, tuple(int(v) for v in size), label)
        return Mpi3dhpFrames(
            image_names=names,
            subject=seq_of_frame,
            sequence=seq_of_frame,
            camera_key=seq_of_frame,
            activity=[a for s, r in zip(sequences, rows) for a in np.asarray(s.activity, dtype=object)[r]],
            frame_numbers=np.concatenate(rows) + 1,
            boxes_xyxy=square_boxes_from_joints(joints2d),
            sizes_wh=sizes,
            joints3d_mm=valid_rows_of("univ_annot3_mm" if self.joints_3d == "univ_annot3" else "annot3_mm"),
            joints2d_px=joints2d,
            intrinsics=intrinsics,
        )
