"""Videos from the store's index tables, centred windows with edge frames repeated, training
batches over many videos, and the sequence dataset's batches."""

import numpy as np
import pytest

from stages.lift import joint_feats as jf
from stages.lift.dataset import training_sampler
from stages.lift.sequence_dataset import SequenceDataset
from stages.lift.sequences import group_videos, window_offsets, windows
from tests.stages.lift.lift_stores import make_store


def test_videos_follow_the_labels_and_frame_order_and_break_at_gaps():
    labels = {"video": np.array(["b", "a", "b", "a", "a", "b", "a", "a"]),
              "frame": np.array([2, 11, 1, 10, 12, 3, 20, 21])}
    videos = group_videos(labels, 8)
    assert videos.names == ("a", "a", "b")          # a: 10, 11, 12 | 20, 21 (a gap) ; b: 1, 2, 3
    assert videos.lengths.tolist() == [3, 2, 3] and videos.starts.tolist() == [0, 3, 5]
    assert labels["frame"][videos.order].tolist() == [10, 11, 12, 20, 21, 1, 2, 3]
    assert videos.video_of().tolist() == [0, 0, 0, 1, 1, 2, 2, 2]
    # an annotation sampled every 10th frame is one video at frame_step=10
    assert len(group_videos({"video": np.array(["v"] * 3), "frame": np.array([0, 10, 20])}, 3, frame_step=10)) == 1
    assert len(group_videos({"video": np.array(["v"] * 3), "frame": np.array([0, 10, 20])}, 3)) == 3


def test_videos_without_a_video_label():
    labels = {"subject": np.array(["S9", "S9", "S11"]), "action": np.array(["Walk", "Walk", "Walk"]),
              "camera": np.array(["1", "1", "1"]), "frame": np.array([1, 0, 0])}
    videos = group_videos(labels, 3)
    assert videos.names == ("S11/Walk/1", "S9/Walk/1") and videos.order.tolist() == [2, 1, 0]
    one = group_videos({}, 4)  # a folder of frames with no labels: one video in store order
    assert len(one) == 1 and one.order.tolist() == [0, 1, 2, 3]


def test_windows_are_centred_and_repeat_the_edge_frames():
    videos = group_videos({"video": np.array(["a"] * 5 + ["b"] * 2), "frame": np.r_[0:5, 0:2]}, 7)
    assert window_offsets(3).tolist() == [-1, 0, 1]
    assert windows(videos, np.arange(5), 3).tolist() == [[0, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 4]]
    assert windows(videos, np.array([0, 4, 5, 6]), 9).tolist() == [
        [0, 0, 0, 0, 0, 1, 2, 3, 4], [0, 1, 2, 3, 4, 4, 4, 4, 4],
        [5, 5, 5, 5, 5, 6, 6, 6, 6], [5, 5, 5, 5, 6, 6, 6, 6, 6]]  # never crosses into another video
    assert windows(videos, np.arange(7), 1).tolist() == [[i] for i in range(7)]
    with pytest.raises(ValueError, match="odd"):
        window_offsets(4)


def test_training_batches_draw_windows_from_many_videos(tmp_path):
    """Training shuffles single windows over every video (the sampler the training loop builds for a
    temporal dataset): a batch of 8 windows of 4 interleaved 12-frame videos spans 3 or 4 of them,
    where chunks of consecutive frames would take 1 or 2."""
    store = make_store(tmp_path / "s.zarr", num_frames=48, shard_frames=8)
    dataset = SequenceDataset(store.path, np.arange(48), [], window_frames=5, read_joint_feats=False)
    assert len(dataset.videos) == 4 and not hasattr(dataset, "shuffle_groups")
    video_of = dataset.videos.video_of()
    spans = []
    for epoch in range(3):
        sampler = training_sampler(dataset, batch_size=8, seed=0)
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(np.unique(video_of[dataset[batch]["pos"].numpy()])) >= 2
            spans.append(len(np.unique(video_of[batch])))
    assert np.mean(spans) >= 3.0


def test_sequence_batches_gather_each_window_from_the_shared_frames(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=24, shard_frames=5)
    jf.write_joint_feats(store.path, progress=False)
    frames = np.arange(24)
    lazy = SequenceDataset(store.path, frames, ["0", "1"], window_frames=5, in_memory=False)
    held = SequenceDataset(store.path, frames, ["0", "1"], window_frames=5, in_memory=True)
    assert len(lazy.videos) == 4 and lazy.videos.lengths.tolist() == [6, 6, 6, 6]
    video = np.asarray(lazy.inputs.labels["video"])
    frame_no = lazy.inputs.labels["frame"]
    pos = np.array([0, 1, 5, 6, 13, 23])
    batch, same = lazy[pos], held[pos]
    win = batch["window"].numpy()
    assert win.shape == (6, 5) and batch["pose2d"].shape[0] == len(np.unique(windows(lazy.videos, pos, 5)))
    for b, p in enumerate(pos):
        expected = windows(lazy.videos, np.array([p]), 5)[0]
        np.testing.assert_array_equal(batch["pose2d"][win[b]].numpy(), lazy.inputs.pose2d[expected])
        assert (video[expected] == video[p]).all()  # one video
        start = frame_no[lazy.videos.starts[lazy.videos.video_of()[p]]]
        assert frame_no[expected].tolist() == np.clip(frame_no[p] + np.arange(-2, 3), start, start + 5).tolist()
        store_frames = lazy.inputs.frames[expected]
        for level in range(2):
            np.testing.assert_array_equal(batch["joint_feats"][level][win[b]].numpy(),
                                          store.read(f"joint_feat/{level}")[store_frames])
    np.testing.assert_array_equal(batch["target"].numpy(), lazy.inputs.target_m[pos])
    for level in range(2):
        np.testing.assert_array_equal(batch["joint_feats"][level].numpy(), same["joint_feats"][level].numpy())
    # the PoseFormer baseline reads no joint features at all
    assert SequenceDataset(store.path, frames, ["0"], window_frames=3, read_joint_feats=False)[pos]["joint_feats"] == []
