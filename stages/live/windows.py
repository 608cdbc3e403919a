"""A temporal lifter's windows over a live stream, causal by construction.

Each person track is one sequence of the frames it appears in, in order (as ``capf infer`` makes
each track a sequence, cut where it misses a frame). The window of the track's k-th frame covers
positions k - h .. k + h (h = (T - 1) / 2), clamped to the sequence, so the start repeats the first
frame as in training. Frame k is therefore ready the moment position k + h arrives, or when the
sequence ends (the track is missing from a frame, or the stream ends: the end is padded the same
way). Only the last 2h + 1 frames of a track are kept, so memory does not grow with the stream.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np


@dataclass
class WindowFrame:
    """One person in one frame, as a temporal lifter reads it."""

    pose2d: np.ndarray                 # (17, 2) normalised 2D
    joint_feats: list[np.ndarray]      # L x (17, C_l) float16
    payload: object = None             # what the caller needs back with the result


@dataclass
class ReadyTarget:
    track: int
    target: WindowFrame
    window: list[WindowFrame]          # T frames, the target in the middle (edges repeated)


@dataclass
class _Track:
    frames: deque = field(default_factory=deque)  # (position, WindowFrame), the last 2h + 1
    count: int = 0                                 # frames of the sequence so far
    next_target: int = 0                           # position of the next frame to lift


class CausalWindows:
    """Per-track sequences; ``push`` one processed frame's people, get back the targets now ready."""

    def __init__(self, frames: int):
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"a centred window needs an odd number of frames, got {frames}")
        self.frames, self.half = frames, frames // 2
        self.tracks: dict[int, _Track] = {}

    def push(self, people: dict[int, WindowFrame]) -> list[ReadyTarget]:
        """The people of the next processed frame (track id -> frame). Tracks absent from it end their
        sequence here: their remaining targets come back end-padded, then the new frame's ready ones."""
        ready: list[ReadyTarget] = []
        for track in [t for t in self.tracks if t not in people]:
            ready += self._finish(track)
        for track, frame in people.items():
            state = self.tracks.setdefault(track, _Track(deque(maxlen=2 * self.half + 1)))
            state.frames.append((state.count, frame))
            state.count += 1
            while state.next_target + self.half < state.count:
                ready.append(self._target(track, state, state.next_target, last=state.count - 1))
                state.next_target += 1
        return ready

    def finish(self) -> list[ReadyTarget]:
        """The stream ended: every pending target, end-padded."""
        ready: list[ReadyTarget] = []
        for track in list(self.tracks):
            ready += self._finish(track)
        return ready

    def _finish(self, track: int) -> list[ReadyTarget]:
        state = self.tracks.pop(track)
        out = [self._target(track, state, k, last=state.count - 1) for k in range(state.next_target, state.count)]
        return out

    def _target(self, track: int, state: _Track, position: int, *, last: int) -> ReadyTarget:
        by_position = dict(state.frames)
        span = np.clip(np.arange(position - self.half, position + self.half + 1), 0, last)
        return ReadyTarget(track, by_position[position], [by_position[int(p)] for p in span])
