"""The files ``capf infer`` writes for a user: ``predictions.h5`` and mmpose's ``results_<name>.json``.

``predictions.h5`` (h5py), one row per record (a person in a frame), R records:

    frame       (R,) int32          0-based frame index in the input
    track       (R,) int32          person track id (0, 1, ... in order of appearance)
    box         (R, 4) float32      person box x1, y1, x2, y2, image pixels
    box_score   (R,) float32        the box source's confidence (1 for boxes from a JSON file)
    kp2d        (R, 17, 2) float32  the lifter's 2D input: detected joints, Human3.6M-17 order, image pixels
    kp2d_score  (R, 17) float32     their confidence (joints built from two COCO joints: the mean)
    kp3d        (R, 17, 3) float32  3D joints, root-relative (pelvis = 0), camera axes (x right, y down,
                                    z forward), millimetres
    gt3d        (R, 17, 3) float32  ground truth, same frame, when the input has a ground-truth sidecar
    root_cam    (R, 3) float32      the pelvis in camera axes, mm: the translation that projects kp3d onto
                                    kp2d with the clip's camera (stages.export.camera_space); NaN: unsolved
    kp3d_cam    (R, 17, 3) float32  kp3d + root_cam: the joints in camera space, mm

and file attributes naming what produced it (lift config and checkpoint with its sha256, the store
key and path, the detector, the input) plus joint names and units.

``results_<name>.json`` is the layout of mmpose 1.3's ``demo/body3d_pose_lifter_demo.py
--save-predictions``: ``meta_info`` (mmpose's Human3.6M dataset meta) and ``instance_info``, a list of
``{"frame_id", "instances"}`` per video frame (``frame_id`` counts from 1 as the demo's does), or for
one image the list of its instances. Each instance is mmpose's ``split_instances`` dict: keypoints in
the demo's convention (metres, axes (-x, z, -y) of the camera frame so z points up, lowest joint at
height 0), ``keypoint_scores``, ``bbox``, ``bbox_score``; plus ``track_id`` and, where the camera-space
root was solved, ``root_cam_mm`` (3) and ``kp3d_cam_mm`` (17 x 3): camera axes (x right, y down, z
forward), millimetres (null where unsolved).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stages.lift.joints import H36M_JOINT_NAMES, ROOT_JOINT
from stages.lift.report import to_jsonable


@dataclass
class Predictions:
    """Per record (R) arrays of one inference run; see the module docstring for shapes and units."""

    frame: np.ndarray
    track: np.ndarray
    box: np.ndarray
    box_score: np.ndarray
    kp2d: np.ndarray
    kp2d_score: np.ndarray
    kp3d_mm: np.ndarray
    gt3d_mm: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)
    root_cam_mm: np.ndarray | None = None   # (R, 3), set by stages.export.camera_space
    kp3d_cam_mm: np.ndarray | None = None   # (R, 17, 3)

    def __post_init__(self) -> None:
        root = ROOT_JOINT
        self.kp3d_mm = (self.kp3d_mm - self.kp3d_mm[:, root:root + 1]).astype(np.float32)
        if self.gt3d_mm is not None:
            self.gt3d_mm = (self.gt3d_mm - self.gt3d_mm[:, root:root + 1]).astype(np.float32)

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_store(cls, store, records: dict[str, np.ndarray], kp3d_mm: np.ndarray, attrs: dict) -> "Predictions":
        """The records' columns (frame, track, box, score) with the store's 2D joints, converted to the
        lifter's Human3.6M-17 order, its ground truth if any, and the lifted 3D joints."""
        return cls.from_arrays(records, store.read("kp2d"), store.read("score"), store.spec.joint_format, kp3d_mm,
                               gt3d_mm=store.read("gt3d") if store.has("gt3d") else None, attrs=attrs)

    @classmethod
    def from_arrays(cls, records: dict[str, np.ndarray], kp2d_px: np.ndarray, score: np.ndarray, joint_format: str,
                    kp3d_mm: np.ndarray, *, gt3d_mm: np.ndarray | None = None, attrs: dict | None = None) -> "Predictions":
        """The records' columns with stage one's 2D joints ``(R, 17, 2)`` and scores ``(R, 17)`` in
        ``joint_format``, converted to the lifter's Human3.6M-17 order, and the lifted 3D joints."""
        from stages.lift.joints import coco17_to_h36m17

        if joint_format == "coco17":
            kp2d_px, score = coco17_to_h36m17(kp2d_px), coco17_to_h36m17(score[..., None])[..., 0]
        return cls(frame=records["frame"], track=records["track"], box=records["box"], box_score=records["score"],
                   kp2d=kp2d_px.astype(np.float32), kp2d_score=score.astype(np.float32), kp3d_mm=kp3d_mm,
                   gt3d_mm=gt3d_mm, attrs=attrs or {})

    def at_frame(self, k: int) -> np.ndarray:
        """Record indices of frame ``k``, ordered by track."""
        rows = np.flatnonzero(self.frame == k)
        return rows[np.argsort(self.track[rows], kind="stable")]


_DESCRIPTIONS = {
    "frame": ("", "0-based frame index in the input"),
    "track": ("", "person track id"),
    "box": ("px", "person box x1, y1, x2, y2 in image pixels"),
    "box_score": ("", "person box confidence"),
    "kp2d": ("px", "2D joints (Human3.6M-17 order) in image pixels: the lifter's input"),
    "kp2d_score": ("", "2D joint confidence"),
    "kp3d": ("mm", "3D joints, root-relative, camera axes x right, y down, z forward"),
    "gt3d": ("mm", "ground-truth 3D joints, root-relative, camera axes"),
    "root_cam": ("mm", "pelvis position in camera axes (x right, y down, z forward); NaN where unsolved"),
    "kp3d_cam": ("mm", "3D joints in camera space: kp3d + root_cam"),
}


def write_predictions_h5(path: Path, preds: Predictions) -> None:
    import h5py

    arrays = {"frame": preds.frame.astype(np.int32), "track": preds.track.astype(np.int32),
              "box": preds.box.astype(np.float32), "box_score": preds.box_score.astype(np.float32),
              "kp2d": preds.kp2d.astype(np.float32),
              "kp2d_score": preds.kp2d_score.astype(np.float32), "kp3d": preds.kp3d_mm}
    if preds.gt3d_mm is not None:
        arrays["gt3d"] = preds.gt3d_mm
    if preds.root_cam_mm is not None:
        arrays["root_cam"] = preds.root_cam_mm.astype(np.float32)
        arrays["kp3d_cam"] = preds.kp3d_cam_mm.astype(np.float32)
    with h5py.File(path, "w") as handle:
        for name, values in arrays.items():
            dataset = handle.create_dataset(name, data=values)
            unit, text = _DESCRIPTIONS[name]
            dataset.attrs["units"] = unit
            dataset.attrs["description"] = text
        handle.attrs["joint_names"] = list(H36M_JOINT_NAMES)
        handle.attrs["num_records"] = len(preds)
        for key, value in preds.attrs.items():
            if value is not None:
                handle.attrs[key] = value if isinstance(value, (int, float, str)) else json.dumps(to_jsonable(value))


def h36m_meta_info() -> dict:
    """mmpose's Human3.6M dataset meta (what its pose lifters carry as ``dataset_meta``)."""
    import mmpose
    from mmpose.datasets.datasets.utils import parse_pose_metainfo

    path = Path(mmpose.__file__).parent / ".mim" / "configs" / "_base_" / "datasets" / "h36m.py"
    return parse_pose_metainfo(dict(from_file=str(path)))


def to_mmpose_demo_axes(kp3d_mm: np.ndarray) -> np.ndarray:
    """Camera-frame mm ``(..., 17, 3)`` -> the body3d demo's keypoints: metres, axes (-x, z, -y) (z up),
    lowest joint at height 0 (the demo's default ``rebase`` of the keypoint height)."""
    metres = np.asarray(kp3d_mm, dtype=np.float64) / 1000.0
    out = metres[..., [0, 2, 1]]
    out[..., 0] = -out[..., 0]
    out[..., 2] = -out[..., 2]
    out[..., 2] -= out[..., 2].min(axis=-1, keepdims=True)
    return out


def mmpose_instances(preds: Predictions, rows: np.ndarray) -> list[dict]:
    """The records ``rows`` as mmpose body3d demo instances (module docstring), plus ``track_id``."""
    from mmengine.structures import InstanceData
    from mmpose.structures import split_instances

    if len(rows) == 0:
        return []
    data = InstanceData(keypoints=to_mmpose_demo_axes(preds.kp3d_mm[rows]), keypoint_scores=preds.kp2d_score[rows],
                        bboxes=preds.box[rows], bbox_scores=preds.box_score[rows])
    instances = split_instances(data)
    for instance, row in zip(instances, rows):
        instance["track_id"] = int(preds.track[row])
        if preds.root_cam_mm is not None:
            solved = bool(np.isfinite(preds.root_cam_mm[row]).all())
            instance["root_cam_mm"] = preds.root_cam_mm[row].tolist() if solved else None
            instance["kp3d_cam_mm"] = preds.kp3d_cam_mm[row].tolist() if solved else None
    return instances


def write_results_json(path: Path, preds: Predictions, *, num_frames: int, single_image: bool,
                       warning: str | None = None) -> None:
    """mmpose body3d demo layout (module docstring): every frame listed, also frames with nobody;
    ``warning`` (models that cannot be trusted on this input) goes into ``meta_info["warning"]``."""
    if single_image:
        info = mmpose_instances(preds, preds.at_frame(0))
    else:
        info = [{"frame_id": k + 1, "instances": mmpose_instances(preds, preds.at_frame(k))} for k in range(num_frames)]
    meta = {**h36m_meta_info(), **({"warning": warning} if warning else {})}
    Path(path).write_text(json.dumps(to_jsonable({"meta_info": meta, "instance_info": info}), indent="\t"))
