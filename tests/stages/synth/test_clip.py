"""The synthetic test clip: a real mp4 of consecutive motion, and ground truth the video source stores."""

import json

import cv2
import numpy as np

from stages.extract.sources import build_source
from stages.synth.cameras import make_subject_cameras, project
from stages.synth.clip import write_synthetic_clip


def test_clip_is_a_video_with_per_frame_ground_truth_that_the_video_source_reads(tmp_path):
    clip = write_synthetic_clip(tmp_path / "S7_Walking.54138969.mp4", subject="S7", n_frames=6, fps=25,
                                image_size=(160, 160))
    capture = cv2.VideoCapture(str(clip.video))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6 and capture.get(cv2.CAP_PROP_FPS) == 25
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == 6 and frames[0].shape == (160, 160, 3)
    with np.load(clip.ground_truth) as gt:
        assert set(gt.files) == {"imgname", "center", "scale", "part", "S"}
        joints_m, part = gt["S"][..., :3], gt["part"][..., :2]
        assert gt["imgname"][0] == "S7/S7_Walking.54138969/S7_Walking.54138969_000001.jpg"
    camera = make_subject_cameras("S7", 0, (160, 160))[("S7", "54138969")]
    np.testing.assert_allclose(project(joints_m, camera), part, atol=1e-6)  # the labels are this camera's
    step_mm = np.linalg.norm(np.diff(joints_m[:, 0], axis=0), axis=-1) * 1000
    assert (step_mm < 200).all() and step_mm.max() > 1  # consecutive motion, not a slideshow of poses
    assert not np.array_equal(frames[0], frames[5])
    boxes = json.loads(clip.boxes.read_text())  # mmpose's H36M box of each frame, as stage one crops it
    assert sorted(boxes, key=int) == [str(k) for k in range(6)]
    x1, y1, x2, y2 = boxes["2"]
    assert x1 < part[2, :, 0].min() and x2 > part[2, :, 0].max() and y1 < part[2, :, 1].min()
    assert abs((x2 - x1) - 1.2 * np.ptp(part[2], axis=0).max()) < 0.01  # square, 1.2 x the joints' extent

    source = build_source({"type": "video", "name": "clip", "video": clip.video.name,
                           "annotation": clip.ground_truth.name}, tmp_path)
    index = source.frame_index()
    np.testing.assert_allclose(index.gt3d_mm, joints_m * 1000, rtol=1e-6)
    codes, labels = index.index_tables["subject"]
    assert labels == ["S7"] and index.index_tables["action"][1] == ["Walking"]
    assert index.index_tables["camera"][1] == ["54138969"]


def test_clip_takes_the_look_and_keeps_its_motion(tmp_path):
    def frames_and_truth(look):
        clip = write_synthetic_clip(tmp_path / look / "S7_Walking.54138969.mp4", subject="S7", n_frames=2,
                                    image_size=(128, 128), look=look)
        ok, image = cv2.VideoCapture(str(clip.video)).read()
        assert ok
        return image.astype(int), clip.ground_truth.read_bytes()

    limbs, truth_limbs = frames_and_truth("limbs")
    clothing, truth_clothing = frames_and_truth("clothing")
    assert truth_limbs == truth_clothing  # the same motion, camera and boxes
    assert np.abs(limbs - clothing).max() > 60  # other limb colours
