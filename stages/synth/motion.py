"""Sequence plan and world-space motion of the synthetic dataset.

Two kinds of sequence:

* **Videos** (trial 0 of an action, ``"<Action>"``): real mocap retargeted to the subject and
  resampled to Human3.6M's 50 fps, played in real time (one mocap second per video second) and
  filmed frame by frame by one fixed camera, so consecutive frames of a video are 20 ms apart and
  velocities are the clip's own. This is what temporal models and MPJVE need. The test split is
  videos only; the train split spends half its frames on them.
* **Sampled poses** (trial 1, ``"<Action>_1"``, train split only): joint angles sampled in the
  action's modes for pose diversity. Every time step is seen by one of the subject's four cameras,
  cycling, so no pose is rendered twice and each camera's frames are 4 steps apart: they are not
  videos and :mod:`stages.lift.sequences` treats them as single frames.

Videos go round-robin over (action, subject) pairs, actions interleaved by mocap clip and subjects
changing with every video, so a handful of videos already covers every clip and subject evenly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.synth.bvh import BvhClip, axis_rotation, parse_bvh
from stages.synth.pose_sampler import sample_sequence
from stages.synth.skeleton import assemble, bone_directions, ground_snap, mirror_left_right

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
# The CMU files begin with the skeleton's calibration T-pose (a 170-370 mm jump to frame 1): not motion.
CLIP_FIRST_FRAME: dict[str, int] = {WALK_CLIP: 1, FAST_CLIP: 1, SIT_CLIP: 0}
FRAME_RATE_HZ = 50.0  # Human3.6M's video rate: every video is rendered at it
MAX_VIDEO_FRAMES = 100  # 2 s per video: long enough for 81-frame windows, short enough for variety


def _clip_interleaved_actions() -> tuple[str, ...]:
    """ACTIONS reordered so consecutive actions use different mocap clips."""
    by_clip = [[a for a in ACTIONS if ACTION_CLIP[a] == clip] for clip in (FAST_CLIP, WALK_CLIP, SIT_CLIP)]
    longest = max(len(group) for group in by_clip)
    return tuple(group[i] for i in range(longest) for group in by_clip if i < len(group))


VIDEO_ACTION_ORDER: tuple[str, ...] = _clip_interleaved_actions()


@dataclass(frozen=True)
class SequenceSpec:
    """One sequence: Human3.6M-style names plus where its motion comes from."""

    index: int  # position in the split's sequence list; seeds its randomness
    subject: str
    action: str
    trial: int  # 0 -> "<Action>", 1 -> "<Action>_1" (Human3.6M's two trials)
    n_frames: int
    clip: str | None  # mocap file name, or None for sampled poses
    video: bool = False  # True: real-time mocap filmed by one fixed camera at FRAME_RATE_HZ

    @property
    def action_name(self) -> str:
        return self.action if self.trial == 0 else f"{self.action}_1"


def plan_videos(subjects: tuple[str, ...], n_frames: int, first_index: int = 0) -> list[SequenceSpec]:
    """Split ``n_frames`` into mocap videos of at most ``MAX_VIDEO_FRAMES`` frames.

    As few videos as that allows, but at least one per subject (when there are frames for it) and
    at most one per (action, subject) pair; frames are spread evenly over the videos.
    """
    # round k pairs action i with subject (i + k) mod S: consecutive videos change clip and subject,
    # so any 3 videos cover the 3 clips and any S cover the subjects; no pair repeats
    pairs = [(a, subjects[(i + k) % len(subjects)]) for k in range(len(subjects))
             for i, a in enumerate(VIDEO_ACTION_ORDER)]
    n_videos = min(len(pairs), max(-(-n_frames // MAX_VIDEO_FRAMES), min(n_frames, len(subjects))))
    specs = []
    for i, (action, subject) in enumerate(pairs[:n_videos]):
        count = n_frames // n_videos + (1 if i < n_frames % n_videos else 0)
        specs.append(SequenceSpec(first_index + i, subject, action, 0, count, ACTION_CLIP[action], video=True))
    return specs


def plan_sampled(subjects: tuple[str, ...], n_frames: int, first_index: int = 0) -> list[SequenceSpec]:
    """Split ``n_frames`` of sampled poses over subject x action (trial 1), round-robin (subjects
    vary fastest)."""
    order = [(a, s) for a in ACTIONS for s in subjects]
    specs = []
    for i, (action, subject) in enumerate(order):
        count = n_frames // len(order) + (1 if i < n_frames % len(order) else 0)
        if count:
            specs.append(SequenceSpec(first_index + i, subject, action, 1, count, None))
    return specs


def plan_split(subjects: tuple[str, ...], n_frames: int, *, video_fraction: float) -> list[SequenceSpec]:
    """A split's sequences: ``video_fraction`` of the frames in mocap videos, the rest sampled poses.
    Every spec has its own ``index`` (it seeds the spec's randomness)."""
    n_video = int(round(n_frames * video_fraction))
    videos = plan_videos(subjects, n_video)
    return videos + plan_sampled(subjects, n_frames - n_video, first_index=len(videos))


def resample_clip(joints: np.ndarray, frame_time_s: float, rate_hz: float = FRAME_RATE_HZ) -> np.ndarray:
    """Resample a clip's joints ``(T, 17, 3)`` to ``rate_hz`` by linear interpolation in time.

    Between two mocap samples (8 ms at 120 fps, 33 ms at 30 fps) a limb turns a few degrees at most,
    so interpolating positions changes bone lengths by well under a millimetre.
    """
    duration_s = (joints.shape[0] - 1) * frame_time_s
    t = np.arange(int(np.floor(duration_s * rate_hz + 1e-9)) + 1) / rate_hz / frame_time_s
    lo = np.minimum(np.floor(t).astype(np.int64), joints.shape[0] - 1)
    hi = np.minimum(lo + 1, joints.shape[0] - 1)
    w = (t - lo)[:, None, None]
    return (1.0 - w) * joints[lo] + w * joints[hi]


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


def video_clip(joints: np.ndarray, clip_name: str, frame_time_s: float, lengths_mm: np.ndarray) -> np.ndarray:
    """A retargeted clip ``(T, 17, 3)`` made ready for videos: motion frames only, resampled to
    ``FRAME_RATE_HZ`` (bones re-laid at the subject's ``lengths_mm``: rigid to the micrometre), on a
    treadmill (the pelvis's linear horizontal trend removed, so a sprint stays in the capture area
    and playing the clip back and forth never jumps)."""
    joints = resample_clip(joints[CLIP_FIRST_FRAME[clip_name]:], frame_time_s)
    joints = assemble(joints[:, 0], bone_directions(joints), lengths_mm)
    t = np.arange(len(joints), dtype=np.float64)
    if len(joints) > 1:
        trend = np.polynomial.polynomial.polyfit(t, joints[:, 0, :2], 1)
        joints = joints.copy()
        joints[..., :2] -= (t[:, None] * trend[1])[:, None, :]
    return joints


def sequence_motion(spec: SequenceSpec, rng: np.random.Generator, retargeted: np.ndarray | None,
                    lengths_mm: np.ndarray, area_radius_mm: float = 600.0,
                    modes: tuple[str, ...] | None = None, stride: int | None = None) -> np.ndarray:
    """World joints (n_frames, 17, 3) in mm, z up, resting on the floor, inside the capture area.

    Args:
        retargeted: (T, 17, 3) the clip retargeted to this subject (mocap sequences), else None;
            for a video, already resampled to ``FRAME_RATE_HZ`` (it is played in real time).
        modes: pose-sampler modes of sampled sequences (default: the Human3.6M action's).
        stride: clip frames per step of a mocap sequence; None draws one (a dataset spreads a
            sequence over the clip), a video gives clip fps / video fps (real speed).
    """
    n = spec.n_frames
    if retargeted is not None:
        n_clip = retargeted.shape[0]
        if stride is None:
            stride = 1 if spec.video else int(rng.integers(1, max(2, n_clip // max(n, 1)) + 1))
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
