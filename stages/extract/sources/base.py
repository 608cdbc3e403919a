"""The frame-source interface: every dataset adapter turns its files into one `FrameIndex`.

Sources are plugins: a class with `from_config(cfg, data_root)` registered in `SOURCES`
(stages/extract/sources/__init__.py). All validation that can fail happens when the index is
built, before any store is created, so bad input never damages a cache that is already there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np


class SourceError(ValueError):
    """Bad input data; the message names the file and what is wrong (one line)."""


@dataclass
class FrameIndex:
    """Columnar description of N frames in storage order (the annotation file's order).

    image_names are relative to `root` (so the content key survives moving the dataset); a video
    source uses `<file>#<frame number>`. Optional labels are None when the dataset has none.
    """

    dataset: str
    root: Path
    image_names: list[str]
    bboxes_xyxy: np.ndarray  # (N, 4) float32, image pixels
    image_sizes_wh: np.ndarray  # (N, 2) int32
    index_tables: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    frame_numbers: np.ndarray | None = None  # (N,) int32
    gt3d_mm: np.ndarray | None = None  # (N, 17, 3) camera frame, millimetres
    gt2d_px: np.ndarray | None = None  # (N, 17, 2)
    camera: np.ndarray | None = None  # (N, 9) fx fy cx cy k1 k2 k3 p1 p2
    # Choices that change stored labels but not the frame list (e.g. which 3D ground truth):
    # they enter the store's content key, so two choices never share a store.
    key_extra: dict[str, str] = field(default_factory=dict)
    # Padding of the boxes before the crop: None = the detector pipeline's (mmpose: 1.25); 1.0 for
    # boxes that already are the crop (the authors' H36M box). Recorded in key_extra where set.
    bbox_padding: float | None = None
    # The crop's affine: 'mmpose' (its get_warp_matrix) or 'authors' (their pixel-centre
    # get_affine_transform, stages/detector/crop_affine.py). Recorded in key_extra where not mmpose's.
    crop_affine: str = "mmpose"

    def __len__(self) -> int:
        return len(self.image_names)

    def static_arrays(self) -> dict[str, np.ndarray]:
        """Arrays the store holds that come from the dataset itself, not from the detector."""
        arrays = {"bbox": self.bboxes_xyxy.astype(np.float32),
                  "image_size": self.image_sizes_wh.astype(np.int32)}
        if self.frame_numbers is not None:
            arrays["index/frame"] = self.frame_numbers.astype(np.int32)
        for name, value in (("gt3d", self.gt3d_mm), ("gt2d", self.gt2d_px), ("camera", self.camera)):
            if value is not None:
                arrays[name] = value.astype(np.float32)
        return arrays

    def validate_boxes(self, label: str) -> None:
        """A box wholly outside its image can only be an annotation error: refuse it by name."""
        x1, y1, x2, y2 = self.bboxes_xyxy.T
        width, height = self.image_sizes_wh.T
        outside = (x2 <= 0) | (y2 <= 0) | (x1 >= width) | (y1 >= height) | (x2 <= x1) | (y2 <= y1)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise SourceError(f"{label}: box {np.round(self.bboxes_xyxy[i], 1).tolist()} of frame {i} "
                              f"({self.image_names[i]}) lies wholly outside its "
                              f"{int(width[i])}x{int(height[i])} image")


class FrameSource(Protocol):
    """What the extractor needs from a dataset adapter: the validated index. Pixels are read by
    `load_frame`, which every source shares, so loader workers need only (root, name) pairs."""

    def frame_index(self) -> FrameIndex: ...


VIDEO_FRAME_SEPARATOR = "#"
_open_videos: dict[str, tuple[cv2.VideoCapture, int]] = {}


def video_frame_name(video_name: str, frame: int) -> str:
    return f"{video_name}{VIDEO_FRAME_SEPARATOR}{frame:06d}"


def read_image_bgr(path: Path) -> np.ndarray:
    """Decode an image file or raise a SourceError naming it."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{path}: missing or undecodable image")
    return image


def _open_capture(path: Path) -> cv2.VideoCapture:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SourceError(f"{path}: cannot open video")
    return capture


def _read_video_frame(path: Path, frame: int) -> np.ndarray:
    """Frame `frame` of a video; sequential reads reuse the open decoder (one per worker process).

    A decoder that has read a video's last frame may not seek back (OpenCV's MJPG reader does not):
    a failed read on a reused decoder is retried once on a freshly opened one."""
    cached = _open_videos.pop(str(path), None)
    for entry in ([cached] if cached else []) + [None]:
        capture, next_frame = entry or (_open_capture(path), 0)
        if frame != next_frame:
            capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, image = capture.read()
        if ok:
            _open_videos[str(path)] = (capture, frame + 1)
            return image
        capture.release()
    raise SourceError(f"{path}: cannot decode frame {frame}")


def load_frame(root: Path, name: str) -> np.ndarray:
    """Pixels of one frame as BGR uint8 (H, W, 3), the layout mmpose's LoadImage produces."""
    if VIDEO_FRAME_SEPARATOR in name:
        video, frame = name.rsplit(VIDEO_FRAME_SEPARATOR, 1)
        return _read_video_frame(Path(root) / video, int(frame))
    return read_image_bgr(Path(root) / name)


def encode_labels(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """String column -> (int32 codes, labels in first-seen order): small tables, cheap to store."""
    labels: dict[str, int] = {}
    codes = np.array([labels.setdefault(v, len(labels)) for v in values], dtype=np.int32)
    return codes, list(labels)


def image_sizes_wh(root: Path, names: list[str]) -> np.ndarray:
    """(N, 2) sizes read from the image headers (cheap: no decode). Camera metadata is not trusted
    for this: in the real Human3.6M sample a 1000x1002 frame has a camera that says 1000x1000."""
    from PIL import Image

    sizes = np.zeros((len(names), 2), dtype=np.int32)
    for i, name in enumerate(names):
        path = Path(root) / name
        if not path.is_file():
            raise SourceError(f"{path}: image not found")
        try:
            with Image.open(path) as image:
                sizes[i] = image.size
        except Exception as error:
            raise SourceError(f"{path}: unreadable image ({error})") from error
    return sizes


def image_sizes_per_video(root: Path, names: list[str], videos: list[str]) -> np.ndarray:
    """(N, 2) sizes when every frame of a video has one size: one header read per video, and a
    check that every file exists (2M frames of Human3.6M need ~840 header reads, not 2M)."""
    first_of_video: dict[str, int] = {}
    for i, video in enumerate(videos):
        first_of_video.setdefault(video, i)
    size_of = dict(zip(first_of_video, image_sizes_wh(root, [names[i] for i in first_of_video.values()])))
    for name in names:
        if not (Path(root) / name).is_file():
            raise SourceError(f"{Path(root) / name}: image not found")
    return np.stack([size_of[v] for v in videos]).astype(np.int32) if videos else np.zeros((0, 2), np.int32)


def square_boxes_from_joints(joints_px: np.ndarray, padding: float = 1.2) -> np.ndarray:
    """(N, J, 2) joints -> (N, 4) xyxy square boxes around them, side = padding x the larger extent.

    mmpose's MPI-INF-3DHP and Human3.6M converters make their center/scale this way (scale =
    side / 200), so boxes built here match the ones its npz files would hold for the same joints.
    """
    lo, hi = joints_px.min(axis=1), joints_px.max(axis=1)
    centre, half = (lo + hi) / 2.0, padding * (hi - lo).max(axis=1, keepdims=True) / 2.0
    return np.concatenate([centre - half, centre + half], axis=1).astype(np.float32)
