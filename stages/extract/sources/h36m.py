"""Human3.6M in mmpose's annotation layout (also what `capf synth` writes).

    <root>/<imgname>            images, e.g. S1/S1_Directions_1.54138969/S1_Directions_1.54138969_000001.jpg
    <root>/<annotation>.npz     imgname (N,), center (N, 2), scale (N,) [box side = 200 * scale px],
                                part (N, 17, 3) px + visibility, S (N, 17, 4) camera-frame metres + visibility
    <root>/cameras.pkl          {(subject, camera_id): {R, T, f, c, k, p, w, h, ...}}
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np

from stages.extract.sources.base import FrameIndex, SourceError, encode_labels, image_sizes_per_video

REQUIRED_KEYS = {"imgname": 1, "center": 2, "scale": 1, "part": 3, "S": 3}
TEST_SUBJECTS = ("S9", "S11")  # the standard protocol's evaluation subjects
CROPS = ("annotation", "authors")
# The authors' crop (ContextAware-PoseFormer's H36M-Toolbox/generate_labels_h36m.py, `_infer_box`):
# in the camera frame at the pelvis's depth, x from -1000 to +1000 mm and y (down) from -900 to
# +1100 mm around the pelvis: a 2 m square whose centre sits 100 mm below the pelvis.
AUTHORS_BOX_MM = ((-1000.0, -900.0), (1000.0, 1100.0))
TRIAL_PATTERN = re.compile(r"^(?P<subject>S\d+)_(?P<action>.+)\.(?P<camera>\d+)_(?P<frame>\d+)\.\w+$")


def load_annotation_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise SourceError(f"{path}: annotation file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except Exception as error:
        raise SourceError(f"{path}: malformed npz ({type(error).__name__}: {error})") from error
    for key, ndim in REQUIRED_KEYS.items():
        if key not in arrays:
            raise SourceError(f"{path}: malformed annotation: missing key '{key}'")
        if arrays[key].ndim != ndim:
            raise SourceError(f"{path}: malformed annotation: '{key}' has {arrays[key].ndim} dims, expected {ndim}")
    n = len(arrays["imgname"])
    for key in REQUIRED_KEYS:
        if len(arrays[key]) != n:
            raise SourceError(f"{path}: malformed annotation: '{key}' has {len(arrays[key])} rows, imgname has {n}")
    if arrays["part"].shape[1:] != (17, 3) or arrays["S"].shape[1:] != (17, 4):
        raise SourceError(f"{path}: malformed annotation: part/S must be (N,17,3)/(N,17,4), "
                          f"got {arrays['part'].shape}/{arrays['S'].shape}")
    return arrays


def authors_boxes(pelvis_mm: np.ndarray, focal_px: np.ndarray, centre_px: np.ndarray) -> np.ndarray:
    """The authors' crop boxes: ``(N, 3)`` camera-frame pelvis (mm), ``(N, 2)`` focal lengths and
    ``(N, 2)`` principal points (px) -> ``(N, 4)`` xyxy image boxes.

    The two corners ``AUTHORS_BOX_MM`` are projected with the pinhole intrinsics and no lens
    distortion, as their toolbox does (`_weak_project`); so the box is (2000 fx / Z) x (2000 fy / Z)
    pixels, a square wherever fx = fy, whatever the person's pose.
    """
    pelvis = np.asarray(pelvis_mm, dtype=np.float64)
    corners = []
    for dx, dy in AUTHORS_BOX_MM:
        xy = (pelvis[:, :2] + np.array([dx, dy])) / pelvis[:, 2:3]
        corners.append(xy * focal_px + centre_px)
    return np.concatenate(corners, axis=1)


def load_cameras_pickle(path: Path) -> dict:
    if not path.is_file():
        raise SourceError(f"{path}: cameras file not found")
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except Exception as error:
        raise SourceError(f"{path}: malformed cameras pickle ({error})") from error


class H36mSource:
    """Frames, boxes, 3D ground truth (camera-frame mm) and intrinsics from an mmpose-style H36M root."""

    CROPS = CROPS

    def __init__(self, root: Path, annotation: str | list[str], cameras: str, dataset: str,
                 train_frame_step: int = 1, test_subjects: tuple[str, ...] = TEST_SUBJECTS,
                 crop: str = "annotation"):
        """annotation: one npz, or several (e.g. the train and test splits) whose frames are
        stored one after the other in the order given.

        train_frame_step: keep every k-th frame of each video (by frame number) of the training
        subjects (all but ``test_subjects``); test subjects keep every frame, as the protocol
        evaluates on all of them. Consecutive 50 fps frames are near-duplicates, so a step of 2 or
        5 cuts the cache 2-5x for little accuracy. The kept frames are the store's frame index, so
        the step enters the content key through it.

        crop: ``"annotation"`` boxes from the npz's center/scale (mmpose's); ``"authors"`` the
        authors' pelvis-centred box from the 3D ground truth and cameras (:func:`authors_boxes`).
        The boxes are part of the frame index, so the two crops never share a store.
        """
        if int(train_frame_step) < 1:
            raise SourceError(f"{root}: train_frame_step must be >= 1, got {train_frame_step}")
        if crop not in CROPS:
            raise SourceError(f"{root}: dataset.crop must be one of {list(CROPS)}, got {crop!r}")
        self.crop = crop
        self.root = Path(root)
        names = [annotation] if isinstance(annotation, str) else list(annotation)
        self.annotation_paths = [self.root / name for name in names]
        self.cameras_path = self.root / cameras
        self.dataset = dataset
        self.train_frame_step = int(train_frame_step)
        self.test_subjects = tuple(test_subjects)

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> "H36mSource":
        return cls(data_root, annotation=cfg["annotation"], cameras=cfg["cameras"], dataset=cfg["name"],
                   train_frame_step=cfg["train_frame_step"], test_subjects=tuple(cfg["test_subjects"]),
                   crop=cfg.get("crop", "annotation"))

    def _kept_frames(self, fields: list[dict[str, str]]) -> np.ndarray:
        """Rows to keep: every ``train_frame_step``-th frame (by frame number) of each training
        video, every frame of the test subjects; in annotation order."""
        if self.train_frame_step == 1:
            return np.arange(len(fields))
        keep = np.zeros(len(fields), dtype=bool)
        videos: dict[str, list[int]] = {}
        for i, f in enumerate(fields):
            if f["subject"] in self.test_subjects:
                keep[i] = True
            else:
                videos.setdefault(f"{f['subject']}_{f['action']}.{f['camera']}", []).append(i)
        for rows in videos.values():
            ordered = sorted(rows, key=lambda i: int(fields[i]["frame"]))
            keep[ordered[::self.train_frame_step]] = True
        return np.flatnonzero(keep)

    def _annotations(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """All annotation files concatenated; also which file each frame came from (for errors)."""
        parts = [load_annotation_npz(path) for path in self.annotation_paths]
        origin = [str(path) for path, part in zip(self.annotation_paths, parts) for _ in part["imgname"]]
        return {key: np.concatenate([part[key] for part in parts]) for key in REQUIRED_KEYS}, origin

    def frame_index(self) -> FrameIndex:
        ann, origin = self._annotations()
        cameras = load_cameras_pickle(self.cameras_path)
        names = [str(name) for name in ann["imgname"]]
        fields = []
        for name, source in zip(names, origin):
            match = TRIAL_PATTERN.match(Path(name).name)
            if match is None:
                raise SourceError(f"{source}: imgname '{name}' is not "
                                  "<subject>_<action>.<camera>_<frame>.<ext>")
            fields.append(match.groupdict())
        kept = self._kept_frames(fields)
        if len(kept) < len(fields):
            ann = {key: value[kept] for key, value in ann.items()}
            names, fields = [names[i] for i in kept], [fields[i] for i in kept]
        cams = []
        for f in fields:
            cam = cameras.get((f["subject"], f["camera"]))
            if cam is None:
                raise SourceError(f"{self.cameras_path}: no camera ({f['subject']}, {f['camera']})")
            cams.append(cam)

        if self.crop == "authors":
            focal = np.array([np.ravel(c["f"])[:2] for c in cams], dtype=np.float64)
            centre = np.array([np.ravel(c["c"])[:2] for c in cams], dtype=np.float64)
            boxes = authors_boxes(ann["S"][:, 0, :3] * 1000.0, focal, centre)
        else:
            side = ann["scale"].astype(np.float64) * 200.0
            center = ann["center"].astype(np.float64)
            boxes = np.concatenate([center - side[:, None] / 2, center + side[:, None] / 2], axis=1)
        trials = [f"{f['subject']}_{f['action']}.{f['camera']}" for f in fields]
        sizes = image_sizes_per_video(self.root, names, trials)
        intrinsics = np.array([np.concatenate([np.ravel(c["f"]), np.ravel(c["c"]), np.ravel(c["k"]),
                                               np.ravel(c["p"])]) for c in cams], dtype=np.float32)
        index = FrameIndex(
            dataset=self.dataset,
            root=self.root,
            image_names=names,
            bboxes_xyxy=boxes.astype(np.float32),
            image_sizes_wh=sizes,
            index_tables={
                "subject": encode_labels([f["subject"] for f in fields]),
                "action": encode_labels([f["action"] for f in fields]),
                "camera": encode_labels([f["camera"] for f in fields]),
                "video": encode_labels(trials),
            },
            frame_numbers=np.array([int(f["frame"]) for f in fields], dtype=np.int32),
            gt3d_mm=(ann["S"][..., :3] * 1000.0).astype(np.float32),
            gt2d_px=ann["part"][..., :2].astype(np.float32),
            camera=intrinsics,
            # their get_affine_transform crops exactly the box: no padding
            key_extra=({"crop": "authors", "bbox_padding": "1.0", "crop_affine": "authors"}
                       if self.crop == "authors" else {}),
            bbox_padding=1.0 if self.crop == "authors" else None,
            crop_affine="authors" if self.crop == "authors" else "mmpose",
        )
        index.validate_boxes(", ".join(str(p) for p in self.annotation_paths))
        return index
