"""Boxes JSON for a clip: keys like the frame sources', boxes clipped to the frame, unknown frames refused."""

import json

import pytest

from stages.extract.sources import SourceError
from stages.infer.boxes import boxes_from_json
from stages.infer.media import open_input
from tests.helpers import SHARED_DATA

FOOTBALL = SHARED_DATA / "video" / "football_5frames.mp4"


def test_video_boxes_by_frame_number_clipped_to_the_frame(tmp_path):
    clip = open_input(FOOTBALL)
    width, height = (int(v) for v in clip.sizes_wh[0])
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps({"003": [10, 20, 110, 220], "4": [[-50, -5, 60, height + 30], [width - 2, 0, width + 9, 9]]}))
    boxes = boxes_from_json(path, clip)
    assert sorted(boxes) == [3, 4]
    assert boxes[3][0].box_xyxy == (10, 20, 110, 220) and boxes[3][0].score == 1.0
    assert [d.box_xyxy for d in boxes[4]] == [(0, 0, 60, height)]  # the sliver at the right edge is dropped
    path.write_text(json.dumps({"9": [0, 0, 10, 10]}))
    with pytest.raises(SourceError, match="frame '9' is not a frame of"):
        boxes_from_json(path, clip)


def test_image_folder_boxes_by_file_name(tmp_path):
    import cv2
    import numpy as np

    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), np.zeros((50, 40, 3), np.uint8))
    (tmp_path / "boxes.json").write_text(json.dumps({"b.png": [1, 2, 30, 40]}))
    boxes = boxes_from_json(tmp_path / "boxes.json", open_input(tmp_path))
    assert list(boxes) == [1] and boxes[1][0].box_xyxy == (1, 2, 30, 40)
