"""MPI-INF-3DHP in mmpose's preprocessed layout (`tools/dataset_converters/preprocess_mpi_inf_3dhp.py`).

    <root>/images/S<s>_Seq<q>_Cam<c>_<frame:06d>.jpg     train frames (frame = video frame + 1)
    <root>/images/TS<n>_<frame:06d>.jpg                  test frames, valid ones only (frame = row + 1)
    <root>/annotations/mpi_inf_3dhp_train.npz, mpi_inf_3dhp_test_valid.npz
        imgname (N,), center (N, 2), scale (N,) [box side = 200 * scale px, 1.2 x the joints' extent],
        part (N, 17, 3) pixels + in-image flag, S (N, 17, 4) camera-frame METRES (the mat's annot3 x 0.001,
        not univ_annot3) + the same flag; 3DHP's 17 test joints (mmpose's `joints_17` of the 28)
    <root>/annotations/cameras_train.pkl   {'S<s>_Seq<q>_Cam<c>': R, T (m), c, f, w, h, name}
    <root>/annotations/cameras_test.pkl    {'TS<n>': c, f, w, h, name} (intrinsics mmpose fits to the labels)

3D is stored as S x 1000 (mm) and 2D as part, both reordered to H36M-17. The npz has no activity
labels (the converter drops them); `activities` may name the official test set's folder
(TS<n>/annot_data.mat) to join them back by frame number, else test frames are "unlabelled".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stages.extract.sources.base import SourceError, image_sizes_per_video
from stages.extract.sources.h36m import REQUIRED_KEYS, load_annotation_npz, load_cameras_pickle
from stages.extract.sources.mpi_inf_3dhp.common import (UNLABELLED, Mpi3dhpFrames, assemble_index,
                                                        pickle_intrinsics)
from stages.extract.sources.mpi_inf_3dhp.official_layout import read_test_sequence

TRAIN_NAME = re.compile(r"^(?P<subject>S\d+)_(?P<seq>Seq\d+)_(?P<cam>Cam\d+)_(?P<frame>\d+)\.\w+$")
TEST_NAME = re.compile(r"^(?P<subject>TS\d+)_(?P<frame>\d+)\.\w+$")


def _as_list(value: str | list[str] | tuple[str, ...]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class MmposeLayoutSource:
    """Frames, boxes, 3D (camera-frame mm) and labels from mmpose's 3DHP npz + cameras files."""

    def __init__(self, root: Path, annotation: str | list[str], cameras: str | list[str], images: str,
                 activities: str | None, dataset: str, crop: str = "annotation"):
        self.root = Path(root)
        self.annotation_paths = [self.root / name for name in _as_list(annotation)]
        self.camera_paths = [self.root / name for name in _as_list(cameras)]
        self.images = (images or "").strip("/")
        self.activities_root = self.root / activities if activities else None
        self.dataset, self.crop = dataset, crop

    def _activity_lookup(self, test_sequences: set[str]) -> dict[str, list[str]]:
        """Per test sequence, the activity of every row of its annotation file (valid or not)."""
        if self.activities_root is None:
            return {}
        return {name: read_test_sequence(self.activities_root / name / "annot_data.mat").activity
                for name in sorted(test_sequences)}

    def frame_index(self):
        parts = [load_annotation_npz(path) for path in self.annotation_paths]
        ann = {key: np.concatenate([part[key] for part in parts]) for key in REQUIRED_KEYS}
        origin = [path for path, part in zip(self.annotation_paths, parts) for _ in part["imgname"]]
        cameras: dict = {}
        for path in self.camera_paths:
            cameras.update(load_cameras_pickle(path))

        fields = []
        for name, source in zip(ann["imgname"], origin):
            match = TRAIN_NAME.match(str(name)) or TEST_NAME.match(str(name))
            if match is None:
                raise SourceError(f"{source}: imgname '{name}' is neither S<s>_Seq<q>_Cam<c>_<frame>.jpg "
                                  "nor TS<n>_<frame>.jpg (mmpose's MPI-INF-3DHP names)")
            f = match.groupdict()
            f["sequence"] = f"{f['subject']}_{f['seq']}" if "seq" in f else f["subject"]
            f["camera"] = f"{f['sequence']}_{f['cam']}" if "cam" in f else f["subject"]
            if f["camera"] not in cameras:
                raise SourceError(f"{', '.join(map(str, self.camera_paths))}: no camera '{f['camera']}' "
                                  f"(needed by {name} in {source})")
            fields.append(f)

        frame_numbers = np.array([int(f["frame"]) for f in fields], dtype=np.int64)
        lookup = self._activity_lookup({f["subject"] for f in fields if "seq" not in f})
        activity = []
        for f, number in zip(fields, frame_numbers):
            table = lookup.get(f["subject"])
            if table is not None and not 1 <= number <= len(table):
                raise SourceError(f"{self.activities_root / f['subject'] / 'annot_data.mat'}: has {len(table)} "
                                  f"frames, but the npz names frame {number} of {f['subject']}")
            activity.append(table[number - 1] if table is not None else UNLABELLED)

        names = [f"{self.images}/{name}" if self.images else str(name) for name in ann["imgname"]]
        videos = [f["camera"] for f in fields]
        side = ann["scale"].astype(np.float64) * 200.0
        centre = ann["center"].astype(np.float64)
        frames = Mpi3dhpFrames(
            image_names=names,
            subject=[f["subject"] for f in fields],
            sequence=[f["sequence"] for f in fields],
            camera_key=videos,
            activity=activity,
            frame_numbers=frame_numbers,
            boxes_xyxy=np.concatenate([centre - side[:, None] / 2, centre + side[:, None] / 2], axis=1),
            sizes_wh=image_sizes_per_video(self.root, names, videos),
            joints3d_mm=ann["S"][..., :3].astype(np.float64) * 1000.0,
            joints2d_px=ann["part"][..., :2].astype(np.float64),
            intrinsics=np.stack([pickle_intrinsics(cameras[v]) for v in videos]),
        )
        return assemble_index(self.dataset, self.root, frames, ", ".join(map(str, self.annotation_paths)),
                              joints_3d="annot3", crop=self.crop)
