"""A lift checkpoint refuses a detector whose crop size or feature levels it was not trained on."""

import re

import pytest
import torch

from cache.store import LevelSpec
from stages.infer.lifting import LiftCheckpoint, LifterError, check_detector_fits
from stages.lift.checkpoints import ResumeError

SLIM = tuple(LevelSpec(str(i), s, c, 128 // s, 96 // s) for i, (s, c) in enumerate(zip((4, 8, 16, 32), (16, 32, 64, 128))))


def _checkpoint(tmp_path, levels=("0", "1", "2", "3"), strides=(4, 8, 16, 32), channels=(16, 32, 64, 128),
                size=(96, 128)):
    path = tmp_path / "best.pth"
    torch.save({"state_dict": {}, "meta": {"levels": list(levels), "model": {
        "level_strides": list(strides), "level_channels": list(channels), "input_size_wh": list(size)}}}, path)
    return LiftCheckpoint.load(path)


def test_a_matching_detector_passes_and_a_subset_of_levels_is_fine(tmp_path):
    check_detector_fits(_checkpoint(tmp_path), SLIM, (96, 128), "slim")
    check_detector_fits(_checkpoint(tmp_path, levels=("2", "3"), strides=(16, 32), channels=(64, 128)), SLIM,
                        (96, 128), "slim")
    assert len(_checkpoint(tmp_path).sha256) == 64


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=(192, 256)), "trained on 192x256 (w x h) crops but the detector slim crops 96x128"),
    (dict(channels=(32, 64, 128, 256)), "level 0 with stride 4, 32 ch but the detector slim has stride 4, 16 ch"),
    (dict(levels=("0", "1", "2", "4"), strides=(4, 8, 16, 64), channels=(16, 32, 64, 256)),
     "level 4 with stride 64, 256 ch but the detector slim has no such level"),
])
def test_a_detector_the_lifter_cannot_read_is_one_line(tmp_path, kwargs, message):
    with pytest.raises(LifterError, match=re.escape(message)) as error:
        check_detector_fits(_checkpoint(tmp_path, **kwargs), SLIM, (96, 128), "slim")
    assert "\n" not in str(error.value) and "best.pth" in str(error.value)


def test_missing_and_foreign_checkpoints_are_refused(tmp_path):
    with pytest.raises(LifterError, match="not found"):
        LiftCheckpoint.load(tmp_path / "nope.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(LifterError, match="not a CAPF lift checkpoint"):
        LiftCheckpoint.load(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ResumeError, match="unreadable"):
        LiftCheckpoint.load(tmp_path / "junk.pth")


def _temporal_lifter(tmp_path, store, frames: int, context: str = "fusion"):
    """A temporal CA-PF-S (seeded random weights) saved as a checkpoint and loaded as infer loads it,
    with the authors' sampling convention (the store's extraction wrote mmpose joint features)."""
    from stages.infer.lifting import load_lifter
    from stages.lift.build import build_lifter, geometry_from_store
    from stages.lift.settings import lift_settings
    from tests.stages.lift.lift_stores import tiny_temporal_config

    cfg = tiny_temporal_config(frames, context, train=dict(in_memory=False))
    cfg["model"]["ref_convention"] = "authors"
    cfg = lift_settings(cfg)
    torch.manual_seed(0)
    model = build_lifter(cfg, geometry_from_store(cfg, store, need_targets=False))
    torch.save({"state_dict": model.state_dict(), "meta": {}}, tmp_path / "t.pth")
    return load_lifter(cfg, LiftCheckpoint.load(tmp_path / "t.pth"), store, device=torch.device("cpu"),
                       batch_size=4, flip_test=False, amp=None)


@pytest.mark.parametrize("context", ["fusion", "none"])  # CA-PF-S; PoseFormer (2D only, no joint features)
def test_a_temporal_lifter_lifts_each_track_along_its_own_frames_with_edge_padding(tmp_path, context):
    """Two people interleaved in one clip (track 1 missing frame 4): every record is lifted from the
    window of T = 9 records of its own track around it, edges repeated (tracks of 4 and 8 frames),
    the predictions come back in the records' order, and the store's per-clip grouping would differ."""
    import numpy as np

    from stages.infer.lifting import lift_window, prepare_store
    from stages.lift.dataset import lift_inputs
    from stages.lift.joint_feats import joint_feat_info
    from stages.lift.sequences import window_offsets
    from tests.stages.lift.lift_stores import make_store

    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)
    lifter = _temporal_lifter(tmp_path, store, frames=9, context=context)
    assert lifter.temporal_frames == 9 and "T = 9" in lifter.describe()
    if context == "none":
        assert prepare_store(lifter, store.path, progress=False) is None and joint_feat_info(store) is None
    else:
        assert prepare_store(lifter, store.path, progress=False).written
        assert joint_feat_info(store)["convention"] == "authors"  # the checkpoint's convention
        assert not prepare_store(lifter, store.path, progress=False).written  # present: nothing to do

    records = np.arange(16)
    track = records % 2
    frame = records // 2
    frame[track == 1] = [0, 1, 2, 3, 5, 6, 7, 8]
    lifted = lift_window(lifter, store.path, records, track=track, frame=frame)
    assert lifted.kp3d_mm.shape == (16, 17, 3) and lifted.metrics is not None and np.isfinite(lifted.metrics["mpjpe"])

    pose2d = torch.from_numpy(lift_inputs(store, records).pose2d)
    feats = [torch.from_numpy(store.group["joint_feat"][name][:]) for name in ("0", "1")] if context != "none" else []
    expected = np.zeros((16, 17, 3), np.float32)
    for sequence in ([r for r in records if track[r] == 0], [1, 3, 5, 7], [9, 11, 13, 15]):
        sequence = np.asarray(sequence)
        for k, r in enumerate(sequence):
            window = sequence[np.clip(k + window_offsets(9), 0, len(sequence) - 1)]
            with torch.no_grad():
                expected[r] = lifter.model.lift_window(pose2d[window], [f[window] for f in feats]).numpy() * 1000
    np.testing.assert_allclose(lifted.kp3d_mm, expected, atol=1e-3)

    # the store's own index (one video per clip label, frame numbers shared by both people) groups
    # the records otherwise: the track labels are what makes the windows right
    by_store = lift_window(lifter, store.path, records)
    assert np.abs(by_store.kp3d_mm - expected).max() > 1.0
