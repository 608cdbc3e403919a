"""Training refuses a store whose train and test frames hold different 3D arrays (annot3 vs
univ_annot3); evaluation refuses a checkpoint trained on the other one. One line each."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from cache.store import FeatureStore, StoreError
from stages.lift.ground_truth_kind import check_checkpoint_joints_3d, check_same_joints_3d, joints_3d_of
from stages.lift.train import TrainRequest, train
from tests.stages.lift.lift_stores import make_store, tiny_config


def store_with_gt3d(path, per_frame: list[str]) -> FeatureStore:
    """make_store's store (S1 even frames, S9 odd) with an index/gt3d table as the 3DHP sources write it."""
    store = make_store(path, num_frames=len(per_frame), shard_frames=8)
    labels = sorted(set(per_frame))
    group = zarr.open_group(str(path), mode="r+")
    array = group.create_array("index/gt3d", shape=(len(per_frame),), dtype="int32", attributes={"labels": labels})
    array[...] = np.array([labels.index(v) for v in per_frame], dtype=np.int32)
    return FeatureStore.open(store.path)


def test_agreeing_splits_pass_and_name_their_array(tmp_path):
    store = store_with_gt3d(tmp_path / "s.zarr", ["univ_annot3"] * 16)
    assert check_same_joints_3d(store, np.arange(0, 16, 2), np.arange(1, 16, 2)) == ["univ_annot3"]
    assert joints_3d_of(make_store(tmp_path / "h36m.zarr", num_frames=8), np.arange(8)) == []  # no record: no check


def test_training_refuses_annot3_train_frames_with_univ_annot3_test_frames(tmp_path):
    store = store_with_gt3d(tmp_path / "s.zarr", ["annot3", "univ_annot3"] * 8)   # S1 frames annot3, S9 univ
    with pytest.raises(StoreError) as error:
        train(TrainRequest(cfg=tiny_config(), store_path=store.path, work_root=tmp_path / "runs", progress=False))
    message = str(error.value)
    assert "\n" not in message and "training frames' 3D ground truth is annot3" in message
    assert "test frames' is univ_annot3" in message and "dataset.joints_3d" in message
    assert not (tmp_path / "runs").exists()  # refused before a run dir exists


def test_evaluation_refuses_a_checkpoint_of_the_other_array(tmp_path):
    store = store_with_gt3d(tmp_path / "s.zarr", ["univ_annot3"] * 8)
    check_checkpoint_joints_3d(["univ_annot3"], store, np.arange(8), tmp_path / "best.pth")
    check_checkpoint_joints_3d(None, store, np.arange(8), tmp_path / "best.pth")  # older checkpoints: no record
    with pytest.raises(StoreError, match=r"best.pth was trained on annot3 ground truth, but .* holds univ_annot3"):
        check_checkpoint_joints_3d(["annot3"], store, np.arange(8), tmp_path / "best.pth")
