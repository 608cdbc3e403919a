"""What ``capf infer`` was pointed at: a video file, an image folder or one image.

An ``InputClip`` names every frame the way the extraction sources do (``<video>#<frame>`` under the
video's folder, image file names under their folder), so the frames the box stage reads are the
frames stage one crops. Its ``digest`` hashes the pixels' files (and a ground-truth sidecar), because
a store's key hashes frame *names* and boxes only: two different videos called ``clip.mp4`` must
not share a cache entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stages.extract.sources import SourceError, load_frame
from stages.extract.sources.base import image_sizes_wh, video_frame_name
from stages.extract.sources.media import IMAGE_SUFFIXES

DEFAULT_IMAGE_FPS = 10.0  # frames per second of the rendered video of an image folder


@dataclass
class InputClip:
    """The frames of one input, in order (F frames).

    kind: ``"video"``, ``"images"`` (a folder) or ``"image"`` (one file).
    root: the folder frame names are relative to. names: per frame, for ``load_frame(root, name)``.
    keys: per frame, the key a boxes JSON uses (the frame number of a video, an image's file name).
    sizes_wh: (F, 2) int. ground_truth: a video's per-frame ground-truth sidecar, if any.
    """

    kind: str
    path: Path
    root: Path
    names: list[str]
    keys: list[str]
    sizes_wh: np.ndarray
    fps: float
    digest: str
    ground_truth: Path | None = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def name(self) -> str:
        """The input's name without suffix: output files are called after it."""
        return self.path.stem if self.kind != "images" else self.path.name

    def frame(self, k: int) -> np.ndarray:
        """Frame ``k`` as BGR uint8 ``(H, W, 3)``."""
        return load_frame(self.root, self.names[k])


def _sha256_files(paths: list[Path], names: list[str]) -> str:
    digest = hashlib.sha256()
    for path, name in zip(paths, names):
        digest.update(name.encode() + b"\0")
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _open_video(path: Path, ground_truth: Path | None) -> InputClip:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SourceError(f"{path}: cannot open video (unreadable, or not a video file)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        fps = float(capture.get(cv2.CAP_PROP_FPS)) or 25.0
        ok, first = capture.read()
    finally:
        capture.release()
    if count <= 0 or not ok or first is None:
        raise SourceError(f"{path}: the video has no decodable frames")
    height, width = first.shape[:2]
    files, labels = [path], [path.name]
    if ground_truth is not None:
        if not ground_truth.is_file():
            raise SourceError(f"{ground_truth}: ground-truth file not found")
        files.append(ground_truth)
        labels.append(ground_truth.name)
    return InputClip("video", path, path.parent, [video_frame_name(path.name, k) for k in range(count)],
                     [str(k) for k in range(count)], np.tile(np.int32([width, height]), (count, 1)), fps,
                     _sha256_files(files, labels), ground_truth)


def _open_images(folder: Path, names: list[str], kind: str) -> InputClip:
    sizes = image_sizes_wh(folder, names)
    return InputClip(kind, folder if kind == "images" else folder / names[0], folder, list(names), list(names),
                     sizes, DEFAULT_IMAGE_FPS, _sha256_files([folder / n for n in names], names))


def open_input(path: Path, *, ground_truth: Path | None = None) -> InputClip:
    """Resolve and validate the input; raise ``SourceError`` (one line naming the path) when it is
    missing, not a video or image, a video without frames or a folder without images."""
    path = Path(path)
    if path.is_dir():
        names = sorted(p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not names:
            raise SourceError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the folder")
        return _open_images(path, names, "images")
    if not path.is_file():
        raise SourceError(f"{path}: input not found")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _open_images(path.parent, [path.name], "image")
    return _open_video(path, ground_truth)
