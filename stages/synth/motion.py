"""Sequence plan and world-space motion of the synthetic dataset.

A split's frames go round-robin over sequences (subject x action x trial), ordered so that even a
handful of frames covers several subjects and actions. Trial 0 of every action replays real mocap
(retargeted to the subject), trial 1 samples joint angles in the action's modes, so about half the
frames come from each source. Every time step of a sequence is seen by one of the subject's four
cameras, cycling, so no pose is rendered twice and each camera's video is a strided sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.synth.bvh import BvhClip, axis_rotation, parse_bvh
from stages.synth.pose_sampler import sample_sequence
from stages.synth.skeleton import ground_snap, mirror_left_right

ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing", "Purchases",
    "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking", "WalkTogether",
)  # fmt: skip
ACTION_MODES: dict[str, tuple[str, ...]] = {
    "Directions": ("stand", "gesture", "reach"), "Discussion": ("gesture", "stand"),
    "Eating": ("eat", "sit_chair"), "Greeting": ("gesture", "reach", "stand"),
    "Phoning": ("phone", "stand", "sit_chair"), "Photo": ("photo", "crouch", "stand"),
    "Posing": ("gesture", "reach", "kneel", "crouch"), "Purchases": ("bend", "stand", "gesture"),
    "Sitting": ("sit_chair", "sit_floor", "eat"), "SittingDown": ("sit_floor", "crouch", "sit_chair", "stand"),
    "Smoking": ("phone", "eat", "stand"), "Waiting": ("stand", "gesture", "bend"),
    "WalkDog": ("walk", "bend"), "Walking": ("walk",), "WalkTogether": ("walk", "gesture"),
}  # fmt: skip
WALK_CLIP, FAST_CLIP, SIT_CLIP = "cmu_12_01_walk.bvh", "cmu_style_example.bvh", "mocapbank_example.bvh"
ACTION_CLIP: dict[str, str] = {
    **{a: WALK_CLIP for a in ("WalkDog", "Walking", "WalkTogether")},
    **{a: SIT_CLIP for a in ("Sitting", "SittingDown", "Eating", "Purchases", "Photo", "Waiting")},
    **{a: FAST_CLIP for a in ("Directions", "Discussion", "Greeting", "Phoning", "Posing", "Smoking")},
}  # fmt: skip
MOCAP_CLIPS: tuple[str, ...] = (WALK_CLIP, FAST_CLIP, SIT_CLIP)


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence: Human3.6M-style names plus where its motion comes from."""

    index: int  # position in the split's sequence list; seeds its randomness
    subject: str
    action: str
    trial: int  # 0 -> "<Action>", 1 -> "<Action>_1" (Human3.6M's two trials)
    n_frames: int
    clip: str | None  # mocap file name, or None for sampled poses

    @property
    def action_name(self) -> str:
        return self.action if self.trial == 0 else f"{self.action}_1"


def plan_sequences(subjects: tuple[str, ...], n_frames: int) -> list[SequenceSpec]:
    """Split ``n_frames`` over subject x action x trial, round-robin (subjects vary fastest)."""
    order = [(a, t, s) for a in ACTIONS for t in (0, 1) for s in subjects]
    specs = []
    for i, (action, trial, subject) in enumerate(order):
        count = n_frames // len(order) + (1 if i < n_frames % len(order) else 0)
        if count:
            clip = ACTION_CLIP[action] if trial == 0 else None
            specs.append(SequenceSpec(i, subject, action, trial, count, clip))
    return specs


def load_clips(mocap_dir: Path) -> dict[str, BvhClip]:
    """Parse the mocap clips the plan uses."""
    return {name: parse_bvh(mocap_dir / name) for name in MOCAP_CLIPS}


def _pingpong(indices: np.ndarray, length: int) -> np.ndarray:
    """Reflect indices into [0, length) so long sequences on short clips play back and forth."""
    if length == 1:
        return np.zeros_like(indices)
    period = 2 * (length - 1)
    m = np.mod(indices, period)
    return np.where(m < length, m, period - m)


def sequence_motion(spec: SequenceSpec, rng: np.random.Generator, retargeted: np.ndarray | None,
                    lengths_mm: np.ndarray, area_radius_mm: float = 600.0,
                    modes: tuple[str, ...] | None = None, stride: int | None = None) -> np.ndarray:
    """World joints (n_frames, 17, 3) in mm, z up, resting on the floor, inside the capture area.

    Args:
        retargeted: (T, 17, 3) the clip retargeted to this subject (mocap sequences), else None.
        modes: pose-sampler modes of sampled sequences (default: the Human3.6M action's).
        stride: clip frames per step of a mocap sequence; None draws one (a dataset spreads a
            sequence over the clip), a video gives clip fps / video fps (real speed).
    """
    n = spec.n_frames
    if retargeted is not None:
        n_clip = retargeted.shape[0]
        if stride is None:
            stride = int(rng.integers(1, max(2, n_clip // max(n, 1)) + 1))
        start = int(rng.integers(0, n_clip))
        joints = retargeted[_pingpong(start + stride * np.arange(n), n_clip)]
    else:
        joints = sample_sequence(rng, modes or ACTION_MODES[spec.action], n, lengths_mm)
    if rng.random() < 0.5:
        joints = mirror_left_right(joints)
    yaw = axis_rotation("Z", np.array(rng.uniform(0.0, 2.0 * np.pi)))
    joints = joints @ yaw.T
    # Keep the walk within the capture area: remove the linear trend of a long trajectory
    # (a treadmill) and centre the rest.
    pelvis_xy = joints[:, 0, :2]
    if n > 2 and np.ptp(pelvis_xy, axis=0).max() > 2.0 * area_radius_mm:
        t = np.arange(n, dtype=np.float64)
        trend = np.polynomial.polynomial.polyfit(t, pelvis_xy, 1)
        joints[..., :2] -= (trend[0] + t[:, None] * trend[1])[:, None, :]
    joints[..., :2] -= joints[:, 0, :2].mean(axis=0)
    offset = rng.uniform(-1.0, 1.0, size=2) * area_radius_mm / np.sqrt(2.0)
    joints[..., :2] += offset
    return ground_snap(joints)
