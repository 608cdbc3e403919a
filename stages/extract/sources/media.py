"""Frames of a video file or an image folder, with person boxes from a JSON file or the whole frame.

Boxes JSON: an object mapping a frame key to one box [x1, y1, x2, y2] or a list of boxes (one
record per person). The key is the image file name (image folder) or the frame number (video).
Only the listed frames are extracted, in sorted order; without a boxes file every frame is taken
with the whole frame as its box.

Ground truth (video only, optional): an npz in mmpose's Human3.6M annotation layout with one row per
video frame (``imgname``, ``center``, ``scale``, ``part``, ``S``; what ``stages.synth.clip`` writes
beside a synthetic clip). Its ``S`` becomes ``gt3d`` (camera-frame mm) and ``part`` ``gt2d`` of every
record of that frame, and the subject, action and camera parsed from ``imgname`` become the store's
index tables, so the clip's store evaluates like a Human3.6M store.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from stages.extract.sources.base import FrameIndex, SourceError, encode_labels, image_sizes_wh, video_frame_name
from stages.extract.sources.h36m import TRIAL_PATTERN, load_annotation_npz

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def _load_boxes(path: Path) -> dict[str, list[list[float]]]:
    try:
        raw = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise SourceError(f"{path}: boxes file not found") from None
    except json.JSONDecodeError as error:
        raise SourceError(f"{path}: malformed JSON ({error})") from error
    if not isinstance(raw, dict):
        raise SourceError(f"{path}: expected an object mapping frame keys to boxes")
    boxes = {}
    for key, value in raw.items():
        values = np.asarray(value, dtype=np.float64)
        if values.ndim == 1:
            values = values[None]
        if values.ndim != 2 or values.shape[1] != 4:
            raise SourceError(f"{path}: box of '{key}' must be [x1, y1, x2, y2] or a list of them")
        boxes[str(key)] = values.tolist()
    return boxes


def _expand(keys_names_sizes, boxes_by_key, label):
    """(key, image name, (w, h)) per frame -> per-record names, boxes, sizes (whole frame if no boxes)."""
    names, boxes, sizes = [], [], []
    for key, name, size in keys_names_sizes:
        frame_boxes = boxes_by_key.get(key) if boxes_by_key is not None else [[0, 0, size[0], size[1]]]
        for box in frame_boxes or []:
            names.append(name)
            boxes.append(box)
            sizes.append(size)
    if not names:
        raise SourceError(f"{label}: no frames to extract")
    return names, np.asarray(boxes, dtype=np.float32), np.asarray(sizes, dtype=np.int32)


class ImageFolderSource:
    """Every image in a folder (sorted by name), optionally restricted to the frames in a boxes file."""

    def __init__(self, root: Path, boxes: Path | None = None, dataset: str = "images"):
        self.root, self.boxes_path, self.dataset = Path(root), boxes, dataset

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> "ImageFolderSource":
        boxes = cfg["boxes"]
        return cls(data_root, Path(data_root) / boxes if boxes else None, cfg["name"])

    def frame_index(self) -> FrameIndex:
        if not self.root.is_dir():
            raise SourceError(f"{self.root}: image folder not found")
        boxes = _load_boxes(self.boxes_path) if self.boxes_path else None
        files = sorted(p.name for p in self.root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if boxes is not None:
            files = sorted(boxes)
        sizes = image_sizes_wh(self.root, files)
        entries = [(name, name, tuple(int(v) for v in size)) for name, size in zip(files, sizes)]
        names, box_array, sizes = _expand(entries, boxes, str(self.root))
        index = FrameIndex(self.dataset, self.root, names, box_array, sizes,
                           index_tables={"video": encode_labels([self.root.name] * len(names))},
                           frame_numbers=np.arange(len(names), dtype=np.int32))
        index.validate_boxes(str(self.boxes_path or self.root))
        return index


class VideoSource:
    """Frames of one video file; names are `<file>#<frame>` so the loader decodes them on demand."""

    def __init__(self, path: Path, boxes: Path | None = None, dataset: str = "video",
                 annotation: Path | None = None):
        self.path, self.boxes_path, self.dataset = Path(path), boxes, dataset
        self.annotation_path = annotation

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> "VideoSource":
        root = Path(data_root)
        video = root / cfg["video"] if cfg["video"] else root
        boxes, annotation = cfg["boxes"], cfg["annotation"]
        return cls(video, (video.parent / boxes) if boxes else None, cfg["name"],
                   (video.parent / annotation) if annotation else None)

    def frame_index(self) -> FrameIndex:
        if not self.path.is_file():
            raise SourceError(f"{self.path}: video not found")
        capture = cv2.VideoCapture(str(self.path))
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        capture.release()
        if count <= 0 or size[0] <= 0:
            raise SourceError(f"{self.path}: not a readable video")
        boxes = _load_boxes(self.boxes_path) if self.boxes_path else None
        frames = range(count) if boxes is None else sorted(int(k) for k in boxes)
        bad = [f for f in frames if not 0 <= f < count]
        if bad:
            raise SourceError(f"{self.boxes_path}: frame {bad[0]} is outside the video's {count} frames")
        if boxes is not None:
            boxes = {str(int(k)): v for k, v in boxes.items()}
        entries = [(str(f), video_frame_name(self.path.name, f), size) for f in frames]
        names, box_array, sizes = _expand(entries, boxes, str(self.path))
        index = FrameIndex(self.dataset, self.path.parent, names, box_array, sizes,
                           index_tables={"video": encode_labels([self.path.name] * len(names))},
                           frame_numbers=np.array([int(n.rsplit("#", 1)[1]) for n in names], dtype=np.int32))
        if self.annotation_path is not None:
            self._add_ground_truth(index, count)
        index.validate_boxes(str(self.boxes_path or self.path))
        return index

    def _add_ground_truth(self, index: FrameIndex, count: int) -> None:
        """gt3d/gt2d and subject/action/camera tables of each record from the per-frame sidecar."""
        ann = load_annotation_npz(self.annotation_path)
        if len(ann["imgname"]) != count:
            raise SourceError(f"{self.annotation_path}: {len(ann['imgname'])} rows of ground truth but "
                              f"{self.path} has {count} frames (one row per frame)")
        fields = []
        for name in ann["imgname"]:
            match = TRIAL_PATTERN.match(Path(str(name)).name)
            if match is None:
                raise SourceError(f"{self.annotation_path}: imgname '{name}' is not "
                                  "<subject>_<action>.<camera>_<frame>.<ext>")
            fields.append(match.groupdict())
        rows = index.frame_numbers
        index.gt3d_mm = (ann["S"][rows, :, :3] * 1000.0).astype(np.float32)
        index.gt2d_px = ann["part"][rows, :, :2].astype(np.float32)
        for column in ("subject", "action", "camera"):
            index.index_tables[column] = encode_labels([fields[r][column] for r in rows])
