"""Frames read on their own thread into a one-frame slot: the newest frame wins.

A camera or stream delivers frames at its own rate whatever the pipeline does; when the pipeline
falls behind, the frame waiting in the slot is replaced by the newer one and counted as skipped, so
the output stays as close to "now" as the pipeline allows and memory never grows (one frame in the
slot, one in the pipeline; never a queue). A video file is paced the same way at its own frame rate
(``pace="realtime"``: frame k is handed out at start + k / fps, as a camera would deliver it), or
read as fast as the pipeline takes frames (``pace="none"``: the reader waits for the slot to empty,
nothing is skipped).

A frame's capture time is the moment it was handed out (``time.perf_counter``), and its decode time
what ``VideoCapture.read`` took for it (for a camera that includes waiting for the sensor).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from stages.live.sources import SourceInfo

PACES = ("realtime", "none")


@dataclass
class CapturedFrame:
    index: int             # position in the source, 0-based (skipped frames leave gaps)
    image: np.ndarray      # (H, W, 3) BGR uint8
    capture_s: float       # time.perf_counter() when handed out
    wall_time: float       # time.time() at the same moment (unix seconds, for the JSON lines)
    decode_ms: float


class LatestFrameReader:
    """The reading thread and its slot; ``next()`` blocks for the next frame (None at the end)."""

    def __init__(self, capture, info: SourceInfo, first_image: np.ndarray, *, pace: str = "realtime",
                 max_frames: int | None = None):
        if pace not in PACES:
            raise ValueError(f"pace must be one of {PACES}, got {pace!r}")
        self.capture, self.info, self.pace, self.max_frames = capture, info, pace, max_frames
        self._cond = threading.Condition()
        self._slot: CapturedFrame | None = None
        self._stop = False
        self.ended = False
        # a camera's or stream's first frame (read when it was opened) is stale by now: counted, skipped
        fresh = info.is_file or first_image is None
        self._first = first_image if fresh else None
        self.frames_read = 0 if fresh else 1
        self.frames_skipped = 0 if fresh else 1
        self.stopped_early: str | None = None  # why a source stopped before its end, when it did
        self._thread = threading.Thread(target=self._run, name="live-reader", daemon=True)

    @property
    def blocking(self) -> bool:
        """A file read as fast as the pipeline takes it: the reader waits, nothing is skipped."""
        return self.info.is_file and self.pace == "none"

    def start(self) -> "LatestFrameReader":
        self._thread.start()
        return self

    def _read(self) -> tuple[np.ndarray | None, float]:
        if self._first is not None:
            image, self._first = self._first, None
            return image, 0.0
        tick = time.perf_counter()
        ok, image = self.capture.read()
        return (image if ok else None), (time.perf_counter() - tick) * 1e3

    def _run(self) -> None:
        start = time.perf_counter()
        fps = self.info.fps if self.info.is_file and self.pace == "realtime" else None
        try:
            while not self._stop and (self.max_frames is None or self.frames_read < self.max_frames):
                image, decode_ms = self._read()
                if image is None:
                    self._note_end()
                    break
                if fps:  # a file played at its own rate: hand frame k out at its time
                    delay = start + self.frames_read / fps - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                frame = CapturedFrame(self.frames_read, image, time.perf_counter(), time.time(), decode_ms)
                with self._cond:
                    while self.blocking and self._slot is not None and not self._stop:
                        self._cond.wait()
                    if self._slot is not None:
                        self.frames_skipped += 1  # the pipeline never saw it: the newer frame wins
                    self._slot = frame
                    self.frames_read += 1
                    self._cond.notify_all()
        except Exception as error:  # a backend that raises instead of returning False
            self.stopped_early = f"{self.info.label}: reading failed after {self.frames_read} frames ({error})"
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _note_end(self) -> None:
        """A file that ends before the frames it announced, or any camera or stream that stops."""
        count = self.info.frame_count
        if self.info.is_file:
            if count is not None and self.frames_read < count:
                self.stopped_early = (f"{self.info.label}: stopped after {self.frames_read} of its {count} frames "
                                      "(truncated or undecodable from there)")
        else:
            self.stopped_early = f"{self.info.label}: the stream stopped after {self.frames_read} frames"

    def next(self) -> CapturedFrame | None:
        """The newest frame not yet taken; waits for one; None once the source has ended and all is taken."""
        with self._cond:
            while self._slot is None and not self.ended:
                self._cond.wait()
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=5.0)
        self.capture.release()
