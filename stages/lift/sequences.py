"""A store's frames as videos, and the temporal windows a sequence lifter reads around each frame.

Videos come from the store's index tables: the ``video`` label (Human3.6M: ``<subject>_<action>.
<camera>``; a video file or image folder: its name), else the combination of the ``subject``,
``action`` and ``camera`` labels present, else the whole store is one video. Inside a video, frames
are put in frame-number order (``index/frame``; store order without it), and a video is cut
wherever two neighbours are not ``frame_step`` apart: frames that are not consecutive in time (the
synthetic train split's sampled poses, filmed by cycling cameras) never become each other's
temporal context, and each becomes a video of its own.

A window of T frames (T odd) is centred on its target frame: offsets -(T-1)/2 .. +(T-1)/2, and
where it reaches past either end of the video it repeats the edge frame (VideoPose3D's
replication padding, also PoseFormer's), so every frame of every video is a target: evaluation
predicts them all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

GROUPING_LABELS = ("subject", "action", "camera")  # used when the store has no `video` label


@dataclass(frozen=True)
class Videos:
    """A partition of N frames into videos, each in frame order.

    ``order`` lists the N frame positions video after video; video v is
    ``order[starts[v]:starts[v] + lengths[v]]``.
    """

    order: np.ndarray    # (N,) int64 positions into the frames given to `group_videos`
    starts: np.ndarray   # (V,) int64 offsets into `order`
    lengths: np.ndarray  # (V,) int64
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.lengths)

    def video_of(self) -> np.ndarray:
        """``(N,)`` the video index of each position of ``order``."""
        return np.repeat(np.arange(len(self.lengths)), self.lengths)


def video_keys(labels: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    if "video" in labels:
        return np.asarray(labels["video"]).astype(str)
    present = [name for name in GROUPING_LABELS if name in labels]
    if not present:
        return np.full(n, "video", dtype=object).astype(str)
    return np.array(["/".join(str(labels[name][i]) for name in present) for i in range(n)])


def group_videos(labels: Mapping[str, np.ndarray], num_frames: int, *, frame_step: int = 1) -> Videos:
    """Group frames into videos (see the module docstring).

    Args:
        labels: per-frame ``(N,)`` arrays as in ``LiftInputs.labels`` (``video``, ``subject``,
            ``action``, ``camera`` names; ``frame`` numbers), any subset.
        num_frames: N.
        frame_step: the frame-number difference of consecutive frames (1 for every frame of a
            50 fps Human3.6M video; 5 for an annotation sampled every 5th frame).
    Returns:
        The videos, ordered by name then first frame; frames inside each in frame order.
    """
    if frame_step < 1:
        raise ValueError(f"frame_step must be >= 1, got {frame_step}")
    keys = video_keys(labels, num_frames)
    if len(keys) != num_frames:
        raise ValueError(f"{len(keys)} video labels for {num_frames} frames")
    frame = (np.asarray(labels["frame"], dtype=np.int64) if "frame" in labels
             else np.arange(num_frames, dtype=np.int64))
    names, code = np.unique(keys, return_inverse=True)
    order = np.lexsort((np.arange(num_frames), frame, code)).astype(np.int64)  # stable for equal numbers
    c, f = code[order], frame[order]
    breaks = np.flatnonzero((c[1:] != c[:-1]) | (f[1:] - f[:-1] != frame_step)) + 1
    starts = np.concatenate([[0], breaks]).astype(np.int64)
    lengths = np.diff(np.concatenate([starts, [num_frames]])).astype(np.int64)
    if num_frames == 0:
        starts, lengths = starts[:0], lengths[:0]
    video_names = tuple(str(names[c[s]]) for s in starts)
    return Videos(order, starts, lengths, video_names)


def window_offsets(frames: int) -> np.ndarray:
    """``(T,)`` offsets of a window centred on its target: -(T-1)/2 .. (T-1)/2 (T odd)."""
    if frames < 1 or frames % 2 == 0:
        raise ValueError(f"a centred window needs an odd number of frames, got {frames}")
    half = frames // 2
    return np.arange(-half, half + 1, dtype=np.int64)


def windows(videos: Videos, targets: np.ndarray, frames: int) -> np.ndarray:
    """The windows of ``targets`` (indices into ``videos.order``): ``(B, T)`` indices into
    ``videos.order``, each clamped to its target's video (edge frames repeated)."""
    targets = np.asarray(targets, dtype=np.int64)
    video = np.searchsorted(videos.starts, targets, side="right") - 1
    first = videos.starts[video]
    last = first + videos.lengths[video] - 1
    return np.clip(targets[:, None] + window_offsets(frames)[None, :], first[:, None], last[:, None])
