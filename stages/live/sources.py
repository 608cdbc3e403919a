"""What ``capf live SOURCE`` can read, opened with OpenCV: a camera index (``0``), a device path
(``/dev/video2``), a stream URL OpenCV opens (``rtsp://…``, ``http://…``, an image-sequence pattern
such as ``frames/%04d.png``) or a video file.

A source that cannot be opened is one ``LiveSourceError`` line naming it and why (OpenCV's own log
lines are silenced while it tries, so the user sees only that line).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import cv2

from stages.extract.sources import SourceError

SOURCE_KINDS = ("camera", "device", "stream", "file")


class LiveSourceError(SourceError):
    """The source cannot be opened or stopped delivering frames; one line naming it."""


@dataclass(frozen=True)
class SourceInfo:
    """What is known about an opened source."""

    spec: str                 # as the user gave it
    kind: str                 # one of SOURCE_KINDS
    fps: float | None         # its frame rate, when it reports one
    frame_count: int | None   # a file's announced number of frames
    size_wh: tuple[int, int]  # of its first frame

    @property
    def label(self) -> str:
        return f"camera {self.spec}" if self.kind == "camera" else self.spec

    @property
    def is_file(self) -> bool:
        return self.kind == "file"

    @property
    def name(self) -> str:
        """A short name for output files."""
        return Path(self.spec).stem if self.kind in ("file", "device") else f"{self.kind}_{self.spec}".replace("/", "_")


def source_kind(spec: str) -> str:
    """How ``spec`` is read: digits are a camera index, ``scheme://`` a stream, ``/dev/…`` a device,
    a ``%`` pattern that names no file an image sequence (a stream), anything else a file."""
    if spec.isdigit():
        return "camera"
    if "://" in spec:
        return "stream"
    if spec.startswith("/dev/"):
        return "device"
    if "%" in spec and not Path(spec).exists():
        return "stream"
    return "file"


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV logs its failed attempts (backend by backend) on stderr: keep them from the user."""
    try:
        previous = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            cv2.utils.logging.setLogLevel(previous)


def open_source(spec: str) -> tuple[cv2.VideoCapture, SourceInfo, object]:
    """Open ``spec``; returns the capture, what is known about it and its first frame (BGR), which the
    reader hands out first. ``LiveSourceError`` when it cannot be opened or yields no frame."""
    kind = source_kind(str(spec))
    if kind == "camera" and os.name == "posix" and Path("/dev").is_dir() and not Path(f"/dev/video{spec}").exists():
        raise LiveSourceError(f"camera {spec}: no such camera (/dev/video{spec} does not exist)")
    if kind in ("file", "device") and not Path(spec).exists():
        raise LiveSourceError(f"{spec}: {'video file' if kind == 'file' else 'device'} not found")
    with _quiet_opencv():
        capture = cv2.VideoCapture(int(spec) if kind == "camera" else str(spec))
        if not capture.isOpened():
            capture.release()
            what = {"camera": f"camera {spec}: cannot be opened",
                    "device": f"{spec}: OpenCV cannot open this device",
                    "stream": f"{spec}: OpenCV cannot open this stream (unreachable, or a format it cannot read)",
                    "file": f"{spec}: cannot open video (unreadable, or not a video file)"}[kind]
            raise LiveSourceError(what)
        ok, first = capture.read()
    if not ok or first is None:
        capture.release()
        raise LiveSourceError(f"{spec if kind != 'camera' else 'camera ' + spec}: opened, but delivered no frame")
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if kind == "file" else 0
    info = SourceInfo(str(spec), kind, fps if 0 < fps < 1e5 else None, count if count > 0 else None,
                      (int(first.shape[1]), int(first.shape[0])))
    return capture, info, first
