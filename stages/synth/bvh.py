"""A small BVH (Biovision hierarchy) reader with vectorised forward kinematics.

Why our own: the synthetic dataset needs joint positions *and* global joint rotations (the head's
rotation tells where the face points) for three real clips, with no extra dependency.

Conventions: a joint's local rotation is the product of its rotation channels in the order they are
listed (``Zrotation Yrotation Xrotation`` -> ``Rz @ Ry @ Rx``, degrees); a child's position is
``pos[parent] + R_global[parent] @ (offset + translation channels)``. End sites become joints named
``<parent>_End`` so that, e.g., the top of the head is available.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class BvhClip:
    """A parsed BVH clip.

    Attributes:
        names: joint names, parents before children (end sites included).
        parents: index of each joint's parent, -1 for the root.
        offsets: (J, 3) rest offsets from the parent, in the file's units.
        channels: per joint, the channel names it owns (empty for end sites).
        motion: (T, C) raw channel values, C = total channel count.
        frame_time_s: seconds per frame.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    motion: np.ndarray
    frame_time_s: float

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    def index(self, name: str) -> int:
        return self.names.index(name)


def parse_bvh(path: Path | str) -> BvhClip:
    """Parse a BVH file (hierarchy + motion)."""
    tokens = Path(path).read_text().split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    stack: list[int] = []
    i = 0
    pending_parent = -1
    while i < len(tokens):
        tok = tokens[i]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[i + 1])
            parents.append(pending_parent)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            i += 2
        elif tok == "End":  # "End Site"
            parent = stack[-1] if stack else -1
            names.append(f"{names[parent]}_End")
            parents.append(parent)
            offsets.append([0.0, 0.0, 0.0])
            channels.append(())
            i += 2
        elif tok == "{":
            stack.append(len(names) - 1)
            pending_parent = stack[-1]
            i += 1
        elif tok == "}":
            stack.pop()
            pending_parent = stack[-1] if stack else -1
            i += 1
        elif tok == "OFFSET":
            offsets[-1] = [float(v) for v in tokens[i + 1 : i + 4]]
            i += 4
        elif tok == "CHANNELS":
            n = int(tokens[i + 1])
            channels[-1] = tuple(tokens[i + 2 : i + 2 + n])
            i += 2 + n
        elif tok == "MOTION":
            i += 1
            break
        else:  # HIERARCHY and anything unknown
            i += 1
    if tokens[i] != "Frames:":
        raise ValueError(f"{path}: expected 'Frames:' after MOTION, got {tokens[i]!r}")
    n_frames = int(tokens[i + 1])
    if tokens[i + 2 : i + 4] != ["Frame", "Time:"]:
        raise ValueError(f"{path}: expected 'Frame Time:'")
    frame_time_s = float(tokens[i + 4])
    n_channels = sum(len(c) for c in channels)
    values = np.asarray(tokens[i + 5 :], dtype=np.float64)
    if values.size != n_frames * n_channels:
        raise ValueError(f"{path}: {values.size} motion values, expected {n_frames} x {n_channels}")
    return BvhClip(
        names=tuple(names),
        parents=tuple(parents),
        offsets=np.asarray(offsets, dtype=np.float64),
        channels=tuple(channels),
        motion=values.reshape(n_frames, n_channels),
        frame_time_s=frame_time_s,
    )


def axis_rotation(axis: str, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices about a principal axis: (...,) angles -> (..., 3, 3)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    one, zero = np.ones_like(c), np.zeros_like(c)
    if axis == "X":
        rows = [[one, zero, zero], [zero, c, -s], [zero, s, c]]
    elif axis == "Y":
        rows = [[c, zero, s], [zero, one, zero], [-s, zero, c]]
    elif axis == "Z":
        rows = [[c, -s, zero], [s, c, zero], [zero, zero, one]]
    else:
        raise ValueError(f"unknown axis {axis!r}")
    return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def forward_kinematics(clip: BvhClip) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and rotations for every frame.

    Returns:
        positions: (T, J, 3) in the file's units and world axes.
        rotations: (T, J, 3, 3) global rotation of each joint's frame (end sites inherit the parent's).
    """
    n_t, n_j = clip.n_frames, len(clip.names)
    positions = np.zeros((n_t, n_j, 3))
    rotations = np.zeros((n_t, n_j, 3, 3))
    col = 0
    for j in range(n_j):
        local_r = np.broadcast_to(np.eye(3), (n_t, 3, 3)).copy()
        translation = np.zeros((n_t, 3))
        for name in clip.channels[j]:
            values = clip.motion[:, col]
            col += 1
            if name.endswith("rotation"):
                local_r = local_r @ axis_rotation(name[0].upper(), np.deg2rad(values))
            elif name.endswith("position"):
                translation[:, "XYZ".index(name[0].upper())] = values
            else:
                raise ValueError(f"unknown BVH channel {name!r}")
        local_t = clip.offsets[j] + translation
        parent = clip.parents[j]
        if parent < 0:
            positions[:, j] = local_t
            rotations[:, j] = local_r
        else:
            parent_r = rotations[:, parent]
            positions[:, j] = positions[:, parent] + np.einsum("tab,tb->ta", parent_r, local_t)
            rotations[:, j] = parent_r @ local_r
    return positions, rotations
