"""The Human3.6M source's training frame step, on copies of the real sample with 5 frames per video."""

import numpy as np
import pytest

from cache.key import frame_index_digest
from stages.extract.sources import SourceError, build_source
from tests.helpers import make_h36m_copy


@pytest.fixture
def five_per_video(tmp_path, h36m_root):
    """20 real frames: each of the sample's 4 videos (S1, S5, S7, S8) five times, frame numbers n + 1000 r."""
    return make_h36m_copy(h36m_root, tmp_path / "h36m", repeats=5)


def _frames_by_video(index) -> dict[str, list[int]]:
    codes, labels = index.index_tables["video"]
    out: dict[str, list[int]] = {}
    for code, frame in zip(codes, index.frame_numbers):
        out.setdefault(labels[code], []).append(int(frame))
    return out


def test_every_kth_training_frame_of_each_video_and_every_test_frame(five_per_video):
    full = build_source({"type": "h36m"}, five_per_video).frame_index()
    stepped = build_source({"type": "h36m", "train_frame_step": 2, "test_subjects": ["S7"]},
                           five_per_video).frame_index()
    full_videos, stepped_videos = _frames_by_video(full), _frames_by_video(stepped)
    for video, frames in full_videos.items():
        ordered = sorted(frames)
        expected = ordered if video.startswith("S7_") else ordered[::2]
        assert sorted(stepped_videos[video]) == expected, video
    assert len(stepped) == 3 * 3 + 5
    # the kept rows keep the annotation's order and every per-frame column stays aligned
    rows = [full.image_names.index(name) for name in stepped.image_names]
    assert rows == sorted(rows)
    np.testing.assert_array_equal(stepped.gt3d_mm, full.gt3d_mm[rows])
    np.testing.assert_array_equal(stepped.bboxes_xyxy, full.bboxes_xyxy[rows])
    np.testing.assert_array_equal(stepped.camera, full.camera[rows])


def test_the_step_enters_the_content_key_through_the_frame_index(five_per_video):
    digests = {step: frame_index_digest(index.image_names, index.bboxes_xyxy) for step in (1, 2, 5)
               for index in [build_source({"type": "h36m", "train_frame_step": step}, five_per_video).frame_index()]}
    assert len(set(digests.values())) == 3
    assert len(build_source({"type": "h36m", "train_frame_step": 5}, five_per_video).frame_index()) == 4


def test_step_one_is_the_whole_annotation(h36m_root):
    assert len(build_source({"type": "h36m", "train_frame_step": 1}, h36m_root).frame_index()) == 4


def test_a_bad_step_is_refused(h36m_root):
    with pytest.raises(SourceError, match="train_frame_step must be >= 1"):
        build_source({"type": "h36m", "train_frame_step": 0}, h36m_root)
