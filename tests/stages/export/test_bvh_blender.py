"""The BVH of the default clip opens in Blender's own importer (``bpy`` from PyPI, in a subprocess) as
an upright walking skeleton: every joint, every frame, and the pose where CAPF's file puts it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.infer import DEMO_CLIP
from stages.export.bvh_writer import BVH_JOINT_NAMES
from stages.export.intrinsics import load_camera
from stages.export.track_bvh import write_track_bvhs
from stages.lift.joints import H36M_JOINT_NAMES
from stages.synth.clip import camera_path, write_synthetic_clip

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_blender_imports_the_default_clips_bvh_upright_with_every_joint_and_frame(tmp_path):
    name = f"{DEMO_CLIP['subject']}_{DEMO_CLIP['action']}.{DEMO_CLIP['camera_id']}"
    clip = write_synthetic_clip(tmp_path / f"{name}.mp4", **DEMO_CLIP)
    truth_mm = np.load(clip.ground_truth)["S"][..., :3] * 1000.0  # camera frame: the clip's true 3D
    camera = load_camera(camera_path(clip.video))
    n = len(truth_mm)
    (written,) = write_track_bvhs(tmp_path, name, truth_mm, np.zeros(n, int), np.arange(n), fps=clip.fps,
                                  up_cam=np.asarray(camera.up_cam))
    frames = [0, n // 2, n - 1]
    run = subprocess.run([sys.executable, "-m", "stages.export.blender_check", str(written.path), *map(str, frames)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["bones"] == list(BVH_JOINT_NAMES) and len(report["bones"]) == 21
    assert report["keyframes"] == n == 48 and report["fps"] == pytest.approx(25.0)
    # Blender's axes from the file's with the importer's defaults (forward -Z, up Y): (x, -z, y)
    to_blender = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    for frame in frames:
        heads = report["heads"][str(frame)]
        blender = np.array([heads[joint] for joint in H36M_JOINT_NAMES])
        expected = written.motion.encoded_m[frame] @ to_blender.T
        assert np.abs(blender - expected).max() < 0.001, frame  # metres: within a millimetre
        assert heads["head"][2] > heads["pelvis"][2] + 0.4 > 0.4  # upright in Blender (Z up), above the floor
    # the person walks: the pelvis moves in the ground plane between the first and last frame
    first, last = (np.array(report["heads"][str(f)]["pelvis"]) for f in (frames[0], frames[-1]))
    assert np.linalg.norm((last - first)[:2]) > 0.2
