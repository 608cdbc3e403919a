"""BVH parsing and forward kinematics: real files parse, and the rotation convention is right."""

from pathlib import Path

import numpy as np
import pytest

from stages.synth.bvh import forward_kinematics, parse_bvh

MOCAP = Path(__file__).resolve().parents[4] / "shared" / "data" / "mocap"

TINY_BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Yrotation Xrotation
  JOINT Arm
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Yrotation Xrotation
    End Site
    {
      OFFSET 1 0 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
0 0 0 0 0 0 0 0 0
10 20 30 0 90 0 90 0 0
"""


def test_tiny_clip_follows_the_rotation_convention(tmp_path: Path) -> None:
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY_BVH)
    clip = parse_bvh(path)
    assert clip.names == ("Hips", "Arm", "Arm_End")
    assert clip.parents == (-1, 0, 1)
    assert clip.frame_time_s == 0.5
    pos, rot = forward_kinematics(clip)
    # Frame 0 is the rest pose: cumulative offsets.
    np.testing.assert_allclose(pos[0], [[0, 0, 0], [2, 0, 0], [3, 0, 0]], atol=1e-12)
    # Frame 1: root translated and turned +90 deg about Y (x -> -z); the arm turns +90 deg about Z
    # in the root's frame (x -> y), so its end goes up.
    np.testing.assert_allclose(pos[1, 0], [10, 20, 30], atol=1e-12)
    np.testing.assert_allclose(pos[1, 1], [10, 20, 28], atol=1e-12)
    np.testing.assert_allclose(pos[1, 2], [10, 21, 28], atol=1e-12)
    np.testing.assert_allclose(rot[1, 2], rot[1, 1])  # end sites inherit the parent's frame


@pytest.mark.parametrize(
    ("name", "n_joints", "n_frames", "frame_time"),
    [("cmu_12_01_walk.bvh", 31, 524, 0.0083333), ("cmu_style_example.bvh", 31, 75, 0.0083333),
     ("mocapbank_example.bvh", 19, 455, 0.033333)],
)
def test_real_clips_parse(name: str, n_joints: int, n_frames: int, frame_time: float) -> None:
    clip = parse_bvh(MOCAP / name)
    assert sum(1 for n in clip.names if not n.endswith("_End")) == n_joints
    assert clip.n_frames == n_frames
    assert clip.frame_time_s == pytest.approx(frame_time)
    pos, rot = forward_kinematics(clip)
    assert np.isfinite(pos).all()
    eye = np.einsum("tjab,tjcb->tjac", rot, rot)
    np.testing.assert_allclose(eye, np.broadcast_to(np.eye(3), eye.shape), atol=1e-9)
    # Every bone keeps its rest length in every frame (rigid skeleton).
    parents = np.array(clip.parents[1:])
    lengths = np.linalg.norm(pos[:, 1:] - pos[:, parents], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(clip.offsets[1:], axis=-1), lengths.shape),
                               rtol=1e-9, atol=1e-9)
