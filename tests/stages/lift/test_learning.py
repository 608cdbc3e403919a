"""Training learns, and learns from the maps: a short real `capf train` on a store whose maps hold each
joint's depth (``lift_stores.depth_maps``) beats the mean pose and the same lifter without context,
each by a stated margin; a seed decides the weights, and the same seed gives the same weights.

The world: 17 joints placed at random within +-400 mm of a root 4 m in front of a pinhole camera, so
the 2D joints give x and y (up to the depth scale) but never a joint's depth; the maps give it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.cli import main
from stages.lift.metrics import mpjpe
from stages.lift.train import TrainRequest, train
from tests.helpers import write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

DEPTH_LEVELS = ((1, 4),)  # one full-resolution level: each joint's own cell holds its depth
ONE_CAMERA = ((1000, 1002),)  # train and test subjects seen alike
TRAIN = dict(batch_size=32, epochs=40, lr=1e-2, lr_decay=0.95, flip_aug=False, seed=0, weight_decay=0.01,
             log_interval=50, keep_ckpts=1)


def _config(context: str, **train_overrides) -> dict:
    return tiny_config(model=dict(context=context, levels=[0], embed_dim=32, drop_path_rate=0.0),
                       detector_levels=dict(strides=[1], channels=[4]),
                       train={**TRAIN, **train_overrides}, eval=dict(flip_test=False))


def _train_cli(tmp_path, store_path, context: str) -> dict:
    """`capf train` as a user runs it; returns the final metrics.json."""
    config = write_config(tmp_path / f"{context}.py", _config(context))
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--store", str(store_path), "--work-dir",
                                       str(tmp_path / "runs"), "--quiet", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    (metrics,) = (tmp_path / "runs" / context).glob("*/metrics.json")
    return json.loads(metrics.read_text())


def _mean_pose_mpjpe(store) -> float:
    """MPJPE of predicting the training subjects' mean root-relative pose for every test frame."""
    gt = store.read("gt3d")
    gt = gt - gt[:, :1]
    subjects = np.asarray(store.read("index/subject"))
    train_mean = gt[subjects == 0].mean(axis=0)  # S1 trains, S9 tests (lift_stores)
    return float(mpjpe(np.broadcast_to(train_mean, gt[subjects == 1].shape), gt[subjects == 1]).mean())


@pytest.mark.slow
def test_a_short_capf_train_learns_depth_from_the_maps(tmp_path):
    store = make_store(tmp_path / "depth.zarr", num_frames=1024, shard_frames=128, levels=DEPTH_LEVELS,
                       planted_depth=True, image_sizes=ONE_CAMERA)
    baseline = _mean_pose_mpjpe(store)
    without = _train_cli(tmp_path, store.path, "none")["mpjpe"]
    with_maps = _train_cli(tmp_path, store.path, "concat")["mpjpe"]
    # measured on 2 cores (about 1 min per training): mean pose 360.5 mm, no context 239.1 mm (x and y
    # from the 2D joints, depth guessed), concat 110.0 mm (depth read at the joints); the margins
    # leave room for another CPU's rounding
    assert without < 0.8 * baseline, (without, baseline)  # learns from the 2D joints at all
    assert with_maps < 0.6 * without, (with_maps, without)  # and reads the maps' depth on top


def _weights_after(tmp_path, store_path, seed: int, name: str) -> dict[str, torch.Tensor]:
    cfg = tiny_config(train=dict(seed=seed, epochs=1), eval=dict(after_train=False))
    result = train(TrainRequest(cfg=cfg, store_path=store_path, work_root=tmp_path / name, progress=False))
    return torch.load(result.last_checkpoint, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.slow
def test_a_seed_decides_the_weights_and_reproduces_them_bit_for_bit(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)
    first = _weights_after(tmp_path, store.path, 0, "a")
    again = _weights_after(tmp_path, store.path, 0, "b")
    other = _weights_after(tmp_path, store.path, 1, "c")
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first), "the same seed must give the same weights"
    differ = [k for k in first if not torch.equal(first[k], other[k])]
    assert len(differ) > len(first) // 2, f"seed 1 changed only {differ}"
