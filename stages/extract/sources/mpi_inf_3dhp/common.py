"""What both MPI-INF-3DHP layouts share: scene groups, activities, the test cameras, the index.

Every 3DHP store holds its joints in the lifter's Human3.6M-17 order (`gt3d`, `gt2d`), converted
here by the one stated permutation (`stages.common.joint_sets.MPI3DHP_TO_H36M`); the rows are
3DHP's own labels. Per-frame labels become the store's `index/*` tables:

    subject    S1..S8 (train) | TS1..TS6 (test)     what lift configs split on (data.*_subjects)
    sequence   S1_Seq1 ... | TS1 ...
    camera     the cameras.pkl key (S1_Seq1_Cam0 | TS1)
    video      one camera's video (= camera here); consecutive frames for MPJVE
    activity   the test set's 7 activities; "unlabelled" where the data have none (train)
    scene      green screen (TS1-2, and the train studio) | no green screen (TS3-4) | outdoor (TS5-6)
    gt3d       which 3D array gt3d holds: annot3 | univ_annot3 (a train and a test split must agree)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.common.joint_sets import MPI3DHP_ACTIVITIES, MPI3DHP_ROOT_JOINT, MPI3DHP_SCENE_GROUPS, MPI3DHP_TO_H36M
from stages.extract.sources.base import FrameIndex, SourceError, encode_labels
from stages.extract.sources.h36m import CROPS, authors_boxes

TEST_SEQUENCE_PATTERN = re.compile(r"^TS(?P<number>[1-6])$")
SCENE_GROUPS = MPI3DHP_SCENE_GROUPS  # green screen (TS1-2), no green screen (TS3-4), outdoor (TS5-6)
ACTIVITY_NAMES = MPI3DHP_ACTIVITIES  # activity_annotation code 1..7 -> name
TRAIN_SCENE = "green screen"  # the training set was recorded in the green-screen studio
UNLABELLED = "unlabelled"


def scene_of(sequence: str) -> str:
    """TS1-2 green screen, TS3-4 no green screen, TS5-6 outdoor; train sequences: the studio."""
    match = TEST_SEQUENCE_PATTERN.match(sequence)
    if match is None:
        return TRAIN_SCENE
    return SCENE_GROUPS[(int(match["number"]) - 1) // 2]


def activity_names(codes: np.ndarray, label: str) -> list[str]:
    """(N,) activity codes 1..7 -> names; any other code is an annotation error named by `label`."""
    codes = np.asarray(codes).reshape(-1)
    bad = ~np.isin(codes, list(ACTIVITY_NAMES))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise SourceError(f"{label}: activity_annotation {codes[i]!r} of frame {i + 1} is not one of 1..7")
    return [ACTIVITY_NAMES[int(c)] for c in codes]


@dataclass(frozen=True)
class TestCamera:
    """One test-set camera as its calibration file states it (Skeletool format: millimetres on the
    sensor), converted to pixels for the frame size a dataset actually has."""

    sensor_mm: tuple[float, float]
    size_px: tuple[int, int]
    focal_mm: float
    centre_offset_mm: tuple[float, float]

    def intrinsics_px(self, image_wh: tuple[int, int] | None = None) -> tuple[float, float, float, float]:
        """(fx, fy, cx, cy) in pixels of an image of `image_wh` (default: the calibrated size).

        A resized copy of the frames (the synthetic set renders them smaller) scales every value by
        the size ratio; the calibration's pixel-aspect factor (1.00044 / 0.993) and the GoPro's lens
        distortion are not applied: the ground-truth 2D is given in pixels, these are only recorded.
        """
        width, height = self.size_px
        px_per_mm = np.array([width / self.sensor_mm[0], height / self.sensor_mm[1]])
        focal = self.focal_mm * px_per_mm
        centre = np.array([width / 2.0, height / 2.0]) + np.asarray(self.centre_offset_mm) * px_per_mm
        if image_wh is not None:
            ratio = np.asarray(image_wh, dtype=np.float64) / np.asarray(self.size_px, dtype=np.float64)
            focal, centre = focal * ratio, centre * ratio
        return float(focal[0]), float(focal[1]), float(centre[0]), float(centre[1])


# The official test set's two cameras, from its own calibration files
# mpi_inf_3dhp_test_set/test_util/camera_calibration/ts1-4.calib (studio, 2048 x 2048) and
# ts5-6.calib (outdoor GoPro, 1920 x 1080). At full size: TS1-4 f = 1500.17 px, c = (1017.39,
# 1043.03); TS5-6 f = 1683.98 px, c = (939.86, 560.14).
STUDIO_TEST_CAMERA = TestCamera(sensor_mm=(10.0, 10.0), size_px=(2048, 2048), focal_mm=7.32506,
                                centre_offset_mm=(-0.0322884, 0.0929296))
OUTDOOR_TEST_CAMERA = TestCamera(sensor_mm=(10.0, 5.625), size_px=(1920, 1080), focal_mm=8.770747185,
                                 centre_offset_mm=(-0.104908645, 0.104899704))
TEST_CAMERAS: dict[str, TestCamera] = {
    **{f"TS{n}": STUDIO_TEST_CAMERA for n in (1, 2, 3, 4)},
    **{f"TS{n}": OUTDOOR_TEST_CAMERA for n in (5, 6)},
}


def table_intrinsics(sequence: str, image_wh: tuple[int, int], label: str) -> np.ndarray:
    """(9,) fx fy cx cy k1 k2 k3 p1 p2 of a test sequence from TEST_CAMERAS, for its frame size."""
    camera = TEST_CAMERAS[sequence]
    width, height = camera.size_px
    if abs(image_wh[0] / width - image_wh[1] / height) > 0.01:
        raise SourceError(f"{label}: {image_wh[0]}x{image_wh[1]} frames do not have the {width}x{height} aspect "
                          f"of the {sequence} camera; give dataset.cameras with their intrinsics")
    return np.array([*camera.intrinsics_px(tuple(image_wh)), 0, 0, 0, 0, 0], dtype=np.float32)


def pickle_intrinsics(camera: dict) -> np.ndarray:
    """(9,) from an mmpose cameras.pkl entry (f, c as (2, 1); k, p when present, else zero)."""
    parts = [np.ravel(camera["f"]), np.ravel(camera["c"]),
             np.ravel(camera.get("k", np.zeros(3))), np.ravel(camera.get("p", np.zeros(2)))]
    return np.concatenate(parts).astype(np.float32)


@dataclass
class Mpi3dhpFrames:
    """Per-frame columns of either layout, joints still in 3DHP's 17-joint order."""

    image_names: list[str]
    subject: list[str]
    sequence: list[str]
    camera_key: list[str]
    activity: list[str]
    frame_numbers: np.ndarray  # (N,) 1-based, as in the file names
    boxes_xyxy: np.ndarray  # (N, 4)
    sizes_wh: np.ndarray  # (N, 2)
    joints3d_mm: np.ndarray  # (N, 17, 3) camera frame, 3DHP order
    joints2d_px: np.ndarray  # (N, 17, 2) 3DHP order
    intrinsics: np.ndarray  # (N, 9)

    @classmethod
    def concatenate(cls, parts: list["Mpi3dhpFrames"]) -> "Mpi3dhpFrames":
        """The frames of ``parts`` one after the other (sequences, cameras, train then test)."""
        columns = {}
        for name in cls.__dataclass_fields__:
            values = [getattr(part, name) for part in parts]
            columns[name] = (np.concatenate(values) if isinstance(values[0], np.ndarray)
                             else [v for value in values for v in value])
        return cls(**columns)


def _boxes(frames: Mpi3dhpFrames, crop: str) -> np.ndarray:
    """``"annotation"``: the boxes the layout gives; ``"authors"``: the authors' 2 m box at the 3D pelvis
    (their data_to_npz_3dhp.py `_infer_box`, the same construction as their Human3.6M crop)."""
    if crop not in CROPS:
        raise SourceError(f"dataset.crop must be one of {list(CROPS)}, got {crop!r}")
    if crop == "annotation":
        return frames.boxes_xyxy
    return authors_boxes(frames.joints3d_mm[:, MPI3DHP_ROOT_JOINT], frames.intrinsics[:, :2].astype(np.float64),
                         frames.intrinsics[:, 2:4].astype(np.float64))


def assemble_index(dataset: str, root: Path, frames: Mpi3dhpFrames, label: str,
                   key_extra: dict[str, str] | None = None, *, joints_3d: str = "annot3",
                   crop: str = "annotation") -> FrameIndex:
    """The FrameIndex of 3DHP frames: joints in the lifter's H36M-17 order, labels as index tables.

    ``joints_3d`` names the array gt3d holds (index/gt3d, so training can refuse a train and a test
    split that disagree); ``crop='authors'`` boxes every frame the authors' way, without padding."""
    if not frames.image_names:
        raise SourceError(f"{label}: no valid frames")
    key_extra = dict(key_extra or {})
    if crop == "authors":
        key_extra.update({"crop": "authors", "bbox_padding": "1.0"})
    index = FrameIndex(
        dataset=dataset,
        root=Path(root),
        image_names=frames.image_names,
        bboxes_xyxy=_boxes(frames, crop).astype(np.float32),
        image_sizes_wh=frames.sizes_wh.astype(np.int32),
        index_tables={
            "subject": encode_labels(frames.subject),
            "sequence": encode_labels(frames.sequence),
            "camera": encode_labels(frames.camera_key),
            "video": encode_labels(frames.camera_key),
            "activity": encode_labels(frames.activity),
            "scene": encode_labels([scene_of(s) for s in frames.sequence]),
            "gt3d": encode_labels([joints_3d] * len(frames.image_names)),
        },
        frame_numbers=np.asarray(frames.frame_numbers, dtype=np.int32),
        gt3d_mm=frames.joints3d_mm[:, list(MPI3DHP_TO_H36M)].astype(np.float32),
        gt2d_px=frames.joints2d_px[:, list(MPI3DHP_TO_H36M)].astype(np.float32),
        camera=frames.intrinsics.astype(np.float32),
        key_extra=key_extra,
        bbox_padding=1.0 if crop == "authors" else None,
    )
    index.validate_boxes(label)
    return index
