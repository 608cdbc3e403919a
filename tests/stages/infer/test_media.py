"""What `capf infer` accepts as input, and the one-line refusals of what it cannot read."""

import cv2
import numpy as np
import pytest

from stages.extract.sources import SourceError
from stages.infer.media import open_input
from tests.helpers import SHARED_DATA

FOOTBALL = SHARED_DATA / "video" / "football_5frames.mp4"


def test_a_real_video_an_image_folder_and_one_image(tmp_path):
    video = open_input(FOOTBALL)
    assert video.kind == "video" and len(video) == 5 and video.names[2] == "football_5frames.mp4#000002"
    first = video.frame(0)
    assert first.shape[:2][::-1] == tuple(video.sizes_wh[0]) and video.keys[3] == "3"
    folder = tmp_path / "frames"
    folder.mkdir()
    for k in (2, 0, 1):
        cv2.imwrite(str(folder / f"f{k}.png"), np.full((40 + k, 30, 3), 50 * k, np.uint8))
    (folder / "notes.txt").write_text("not an image")
    images = open_input(folder)
    assert images.kind == "images" and images.names == ["f0.png", "f1.png", "f2.png"]
    assert images.sizes_wh.tolist() == [[30, 40], [30, 41], [30, 42]] and images.name == "frames"
    one = open_input(folder / "f1.png")
    assert one.kind == "image" and len(one) == 1 and one.name == "f1" and one.frame(0).shape == (41, 30, 3)
    # the digest follows the pixels' files, not their names
    (folder / "f1.png").write_bytes((folder / "f2.png").read_bytes())
    assert open_input(folder / "f1.png").digest != one.digest


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b"this is not a video"), "cannot open video"),
    (lambda p: p.write_bytes(b""), "cannot open video"),
])
def test_unreadable_and_empty_videos_are_refused_by_name(tmp_path, make, message):
    path = tmp_path / "clip.mp4"
    make(path)
    with pytest.raises(SourceError, match=message) as error:
        open_input(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_video_without_frames_and_a_folder_without_images_are_refused(tmp_path):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (64, 48))
    writer.release()  # a container with no frames (opencv-python-headless's ffmpeg writes its header)
    assert path.is_file(), "cv2 wrote no container: the test would check nothing"
    with pytest.raises(SourceError, match=str(path)):
        open_input(path)
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "a.txt").write_text("x")
    with pytest.raises(SourceError, match="no images"):
        open_input(tmp_path / "nothing")
    with pytest.raises(SourceError, match="not found"):
        open_input(tmp_path / "missing.mp4")
