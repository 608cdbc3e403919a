"""Positions -> BVH -> positions: the writer against CAPF's own BVH reader (stages.synth.bvh), on real
mocap and on a lifter-like track; rotations continuous; per-track files with gaps, NaN and one frame."""

from __future__ import annotations

import numpy as np
import pytest

from stages.export.bvh_writer import BVH_JOINT_NAMES, BVH_JOINTS, bvh_motion, global_rotations, write_bvh
from stages.export.track_bvh import camera_to_file_axes, estimate_up_cam, write_track_bvhs
from stages.lift.joints import H36M_JOINT_NAMES
from stages.synth.bvh import forward_kinematics, parse_bvh
from stages.synth.retarget import retarget_to_h36m
from stages.synth.skeleton import subject_bone_lengths
from tests.helpers import SHARED_DATA

MOCAP = SHARED_DATA / "mocap"
# Human3.6M world (z up) -> BVH file axes (y up, -z towards the viewer's back): (x, y, z) -> (x, z, -y)
H36M_WORLD_TO_FILE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def read_back_m(path) -> np.ndarray:
    """The 17 Human3.6M joints of a BVH file by CAPF's reader and forward kinematics: (T, 17, 3) file units."""
    clip = parse_bvh(path)
    positions, _ = forward_kinematics(clip)
    return positions[:, [clip.index(name) for name in H36M_JOINT_NAMES]]


def mocap_positions_m(name: str) -> tuple[np.ndarray, float]:
    clip = parse_bvh(MOCAP / name)
    mm = retarget_to_h36m(clip, subject_bone_lengths("S1", 0))
    return mm @ H36M_WORLD_TO_FILE.T / 1000.0, clip.frame_time_s


def bone_vectors(positions: np.ndarray) -> np.ndarray:
    return np.stack([positions[:, j.aim] - positions[:, j.at] for j in BVH_JOINTS if j.aim is not None], axis=1)


@pytest.mark.parametrize("name", ["cmu_12_01_walk.bvh", "cmu_style_example.bvh", "mocapbank_example.bvh"])
def test_mocap_positions_come_back_through_capfs_bvh_within_a_millimetre(name, tmp_path):
    positions, frame_time = mocap_positions_m(name)
    path = write_bvh(tmp_path / "walk.bvh", bvh_motion(positions, frame_time))
    back = read_back_m(path)
    assert back.shape == positions.shape
    assert np.abs(back - positions).max() * 1000 < 1.0  # mm
    assert parse_bvh(path).frame_time_s == pytest.approx(frame_time)


def test_a_lifter_like_track_keeps_its_bone_directions_at_median_lengths(tmp_path):
    """A track whose bones stretch from frame to frame (as a lifter's do): the file encodes every bone's
    direction exactly at the median length, and reading it back gives what it encodes."""
    positions, _ = mocap_positions_m("cmu_12_01_walk.bvh")
    positions = positions[1:200]  # (the clip's first frame is a T-pose)
    rng = np.random.default_rng(0)
    noisy = positions + rng.normal(0, 0.015, positions.shape)  # 15 mm per coordinate
    motion = bvh_motion(noisy, 1 / 30)
    path = write_bvh(tmp_path / "track.bvh", motion)
    back = read_back_m(path)
    assert np.abs(back - motion.encoded_m).max() * 1000 < 1.0
    wanted, got = bone_vectors(noisy), bone_vectors(back)
    cos = (wanted * got).sum(-1) / np.linalg.norm(wanted, axis=-1) / np.linalg.norm(got, axis=-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 0.01
    lengths = np.linalg.norm(got, axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.median(np.linalg.norm(wanted, axis=-1), axis=0),
                                                         lengths.shape), atol=2e-6)


def test_rotations_are_continuous_through_a_walk_and_a_limb_that_straightens():
    positions, _ = mocap_positions_m("cmu_12_01_walk.bvh")
    positions = positions[1::4]  # 30 fps
    motion = bvh_motion(positions, 1 / 30)
    # Euler channels never jump: the largest step between frames stays far from a flip's 180 degrees
    assert np.abs(np.diff(motion.euler_deg, axis=0)).max() < 45.0
    rots = global_rotations(positions)
    step = np.einsum("tjba,tjbc->tjac", rots[:-1], rots[1:])
    angle = np.degrees(np.arccos(np.clip((np.trace(step, axis1=2, axis2=3) - 1) / 2, -1, 1)))
    assert angle.max() < 45.0

    # an elbow that straightens past 0 degrees of bend and bends back: no twist flip at the straight frame
    arm = np.tile(positions[10], (41, 1, 1))
    shoulder, elbow = arm[0, 11], arm[0, 12]
    upper = elbow - shoulder
    side = np.cross(upper, [0.0, 1.0, 0.0])
    side /= np.linalg.norm(side)
    for k, bend in enumerate(np.radians(np.linspace(40, -5, 41))):  # ends slightly hyperextended
        direction = np.cos(bend) * upper / np.linalg.norm(upper) + np.sin(bend) * side
        arm[k, 13] = elbow + 0.25 * direction
    rots = global_rotations(arm)
    k_upper = BVH_JOINT_NAMES.index("l_shoulder")
    step = np.einsum("tba,tbc->tac", rots[:-1, k_upper], rots[1:, k_upper])
    assert np.degrees(np.arccos(np.clip((np.trace(step, axis1=1, axis2=2) - 1) / 2, -1, 1))).max() < 0.5
    wrist = read_back_positions(arm)
    np.testing.assert_allclose(wrist[:, 13], arm[:, 13], atol=1e-6)


def read_back_positions(positions: np.ndarray) -> np.ndarray:
    return bvh_motion(positions, 1 / 30).encoded_m


def test_file_axes_are_upright_with_the_camera_levelled():
    # a level camera: y down -> file Y up, the camera looks along -Z
    np.testing.assert_allclose(camera_to_file_axes(np.array([0.0, -1.0, 0.0])), np.diag([1.0, -1.0, -1.0]), atol=1e-12)
    # a camera pitched 30 degrees down: up is tilted in its axes, the file is level all the same
    pitch = np.radians(30)
    up = np.array([0.0, -np.cos(pitch), np.sin(pitch)])
    axes = camera_to_file_axes(up)
    np.testing.assert_allclose(axes @ up, [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(axes @ axes.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(axes) == pytest.approx(1.0)


def test_one_bvh_per_track_with_gaps_filled_nan_skipped_and_one_frame_kept(tmp_path):
    positions, _ = mocap_positions_m("cmu_12_01_walk.bvh")
    world_mm = positions[1:41:2] * 1000.0  # 20 frames, file axes = a level camera's (x, -y, -z)
    cam_mm = world_mm * np.array([1.0, -1.0, -1.0]) + np.array([0.0, 800.0, 4000.0])
    n = len(cam_mm)
    frames = np.arange(n)
    keep = np.ones(n, bool)
    keep[[5, 6]] = False                                 # the track misses two frames
    kp3d = np.concatenate([cam_mm[keep], cam_mm[:1], np.full((2, 17, 3), np.nan)])
    kp3d[3] = np.nan                                     # and one record has no root
    track = np.concatenate([np.zeros(keep.sum(), int), [1], [2, 2]])
    frame = np.concatenate([frames[keep], [0], [0, 1]])
    lines = []
    # the camera is level (as a camera file with R would say); without it, up is the trunks' median
    written = write_track_bvhs(tmp_path, "clip", kp3d, track, frame, fps=25.0, say=lines.append,
                               up_cam=np.array([0.0, -1.0, 0.0]))
    assert [w.path.name for w in written] == ["clip_track0.bvh", "clip_track1.bvh"]
    assert lines == ["--bvh: track 2 has no frame with a camera-space pose (2 records); no BVH for it"]
    first = written[0]
    assert first.frames == n and first.filled == 3
    clip = parse_bvh(first.path)
    assert clip.n_frames == n and clip.frame_time_s == pytest.approx(0.04)
    assert [name for name in clip.names if not name.endswith("_End")] == list(BVH_JOINT_NAMES)
    back = read_back_m(first.path)
    assert (back[:, 10, 1] > back[:, 0, 1] + 0.4).all()  # upright: the head 40+ cm above the pelvis
    assert abs(np.median(back.min(axis=1)[:, 1])) < 0.02  # standing on Y = 0
    # frames away from the gaps are the track's own positions, shifted onto the floor
    expect = world_mm / 1000.0
    shift = (back - expect)[keep & (frames != 3)]
    assert np.abs(shift - shift[:1]).max() < 0.001  # one shift for the whole track
    np.testing.assert_allclose(shift[0, 0, [0, 2]], [0.0, -4.0], atol=1e-6)  # the camera 4 m away at X = 0
    one = parse_bvh(written[1].path)
    assert one.n_frames == 1 and np.isfinite(one.motion).all()
    assert estimate_up_cam(cam_mm - cam_mm[:, :1]) @ np.array([0.0, -1.0, 0.0]) > 0.95
