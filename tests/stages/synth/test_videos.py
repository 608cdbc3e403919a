"""A world that moves: mocap videos at 50 fps (continuous, one camera each), the test split made of
them only, the plan's coverage, and the time resampling of the clips."""

from pathlib import Path

import numpy as np
import pytest

from stages.lift.metrics import p_mpjpe
from stages.synth.bvh import parse_bvh
from stages.synth.motion import (ACTION_CLIP, FRAME_RATE_HZ, MAX_VIDEO_FRAMES, MOCAP_CLIPS, WALK_CLIP,
                                 plan_split, resample_clip)
from stages.synth.retarget import retarget_to_h36m
from stages.synth.skeleton import H36M_PARENTS, subject_bone_lengths
from stages.synth.writer import TEST_SUBJECTS, TRAIN_SUBJECTS, default_mocap_dir, write_synthetic_h36m


def test_demo_sized_plans():
    test = plan_split(TEST_SUBJECTS, 600, video_fraction=1.0)
    assert [s.n_frames for s in test] == [MAX_VIDEO_FRAMES] * 6 and all(s.video for s in test)
    assert {s.subject for s in test} == set(TEST_SUBJECTS)
    assert {ACTION_CLIP[s.action] for s in test} == set(MOCAP_CLIPS)  # every clip in a handful of videos
    train = plan_split(TRAIN_SUBJECTS, 2400, video_fraction=0.5)
    videos = [s for s in train if s.video]
    assert sum(s.n_frames for s in videos) == 1200 and sum(s.n_frames for s in train) == 2400
    assert {s.subject for s in videos} == set(TRAIN_SUBJECTS)
    assert all(s.clip is None and s.trial == 1 for s in train if not s.video)
    assert len({s.index for s in train}) == len(train)  # each spec seeds its own randomness
    assert len({(s.subject, s.action_name) for s in train}) == len(train)


def test_resampling_keeps_time_and_bones():
    t = np.arange(13, dtype=np.float64)
    linear = np.stack([t, 2 * t, -t], axis=-1)[:, None, :].repeat(17, axis=1)  # (13, 17, 3), 1 unit/frame
    out = resample_clip(linear, frame_time_s=1 / 30, rate_hz=50)
    assert len(out) == 21  # 12/30 s = 0.4 s -> 20 intervals at 50 fps
    np.testing.assert_allclose(out[:, 0, 0], np.arange(21) * 30 / 50)
    clip = parse_bvh(Path(default_mocap_dir()) / WALK_CLIP)
    joints = retarget_to_h36m(clip, subject_bone_lengths("S1", 0))
    video = resample_clip(joints, clip.frame_time_s)
    assert abs(len(video) / FRAME_RATE_HZ - (clip.n_frames - 1) * clip.frame_time_s) < 1 / FRAME_RATE_HZ
    bones = np.linalg.norm(video[:, 1:] - video[:, list(H36M_PARENTS[1:])], axis=-1)
    reference = np.linalg.norm(joints[:, 1:] - joints[:, list(H36M_PARENTS[1:])], axis=-1)
    assert np.abs(bones - reference[0]).max() < 1.0  # mm: interpolating 120 fps positions barely shortens bones


@pytest.fixture(scope="module")
def moving(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("moving")
    write_synthetic_h36m(out, n_train=320, n_test=60, seed=5, image_size=(200, 160), progress=False)
    return out


def _groups(ann, key) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for row, name in enumerate(ann["imgname"]):
        groups.setdefault(key(str(name)), []).append(row)
    return {k: sorted(rows, key=lambda r: str(ann["imgname"][r])[-10:]) for k, rows in groups.items()}


def _video(name: str) -> str:
    return name.split("/")[1]  # <subject>_<action>.<camera>


def _sequence(name: str) -> str:
    return _video(name).split(".")[0]  # <subject>_<action>: all cameras of a sampled sequence


def _pose_change_mm(poses_m: np.ndarray) -> np.ndarray:
    """How much the pose itself changes between consecutive rows, viewpoint and position removed
    (Procrustes-aligned error of frame t + 1 against frame t), mm."""
    s = poses_m[:, :, :3] * 1000.0
    return p_mpjpe(s[1:], s[:-1])


def test_the_test_split_is_continuous_motion(moving):
    """Consecutive frames of a test video change the pose by what 20 ms of real motion does, far
    less than consecutive sampled poses do; frames are numbered 1..F; one camera per video."""
    test = np.load(moving / "test_h36m_body3d.npz")
    videos = _groups(test, _video)
    assert len(videos) == 2 and all("_1." not in name for name in videos)  # test: mocap videos only
    for rows in videos.values():
        assert [int(str(test["imgname"][r])[-10:-4]) for r in rows] == list(range(1, len(rows) + 1))
        assert rows == list(range(rows[0], rows[0] + len(rows)))  # stored in frame order
    video_change = np.concatenate([_pose_change_mm(test["S"][rows]) for rows in videos.values()])
    step = np.concatenate([np.linalg.norm(np.diff(test["S"][rows, :, :3], axis=0), axis=-1).mean(axis=1) * 1000.0
                           for rows in videos.values()])  # camera-frame displacement, mm per frame
    assert 0.5 < np.median(step) < 80.0 and step.max() < 120.0  # moving at 50 fps, no jumps (120 mm = 6 m/s)

    # against independent poses: the train split's sampled poses, one per sequence, in a row
    train = np.load(moving / "train_h36m_body3d.npz")
    sampled = [rows[0] for name, rows in _groups(train, _sequence).items() if name.endswith("_1")]
    assert len(sampled) > 20, "the train split keeps sampled poses"
    independent_change = _pose_change_mm(train["S"][sampled])
    assert np.median(video_change) * 3 < np.median(independent_change)
    # the train split's videos are continuous too (temporal models learn from them)
    train_videos = [rows for name, rows in _groups(train, _video).items() if "_1." not in name]
    assert sum(len(r) for r in train_videos) == 160
    train_change = np.concatenate([_pose_change_mm(train["S"][rows]) for rows in train_videos])
    assert np.median(train_change) * 3 < np.median(independent_change)
    print(f"pose change per frame: test videos {np.median(video_change):.1f} mm, train videos "
          f"{np.median(train_change):.1f} mm, independent sampled poses {np.median(independent_change):.1f} mm")
