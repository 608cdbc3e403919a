"""Temporal lifters: shared-frame windows equal window-by-window lifting, a temporal config trains
and evaluates from the joint features alone (the maps deleted), and FLOPs per output frame."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from cache.store import StoreError
from pipeline.cli import main
from stages.lift import joint_feats as jf
from stages.lift.augment import FlipGeometry, flip_batch
from stages.lift.cost import EXTRA_FLOP_FORMULAS, count_cost
from stages.lift.temporal import TemporalPoseFormer
from stages.lift.train import TrainRequest, train
from tests.stages.lift.lift_stores import INPUT_WH, LEVELS, make_store, tiny_config


def _temporal(frames: int, context: str = "fusion") -> TemporalPoseFormer:
    torch.manual_seed(0)
    return TemporalPoseFormer(frames=frames, context=context, level_channels=[c for _, c in LEVELS],
                              level_strides=[s for s, _ in LEVELS], input_size_wh=INPUT_WH, embed_dim=16, depth=1,
                              spatial_heads=4, fusion_heads=4, temporal_joint_dim=4, temporal_depth=1,
                              temporal_heads=4).eval()


def test_shared_frames_give_the_window_by_window_result():
    model = _temporal(5)
    gen = torch.Generator().manual_seed(1)
    pose2d = torch.rand(9, 17, 2, generator=gen)
    feats = [torch.randn(9, 17, c, generator=gen).half() for _, c in LEVELS]
    window = torch.tensor([[0, 0, 0, 1, 2], [2, 3, 4, 5, 6], [4, 5, 6, 7, 8], [6, 7, 8, 8, 8]])
    with torch.no_grad():
        shared = model(pose2d, feats, window)
        alone = torch.stack([model.lift_window(pose2d[w], [f[w] for f in feats]) for w in window])  # make infer's path
    assert shared.shape == (4, 17, 3)
    torch.testing.assert_close(shared, alone, rtol=1e-5, atol=1e-6)
    # the prediction of a window depends on every frame in it (not only the centre)
    moved = pose2d.clone()
    moved[0] += 0.1
    with torch.no_grad():
        changed = model(moved, feats, window)
    assert not torch.allclose(changed[0], shared[0]) and torch.allclose(changed[2], shared[2])


def test_flip_of_a_temporal_batch_swaps_joint_features():
    model = _temporal(3)
    batch = {"pose2d": torch.rand(4, 17, 2), "joint_feats": [torch.randn(4, 17, 8)], "window": torch.zeros(2, 3),
             "target": torch.rand(2, 17, 3)}
    flipped = flip_batch(batch, FlipGeometry.of(model))
    assert torch.equal(flipped["joint_feats"][0][:, 1], batch["joint_feats"][0][:, 4])  # r-hip <- l-hip
    assert torch.equal(flipped["pose2d"][:, 0, 0], -batch["pose2d"][:, 0, 0])
    twice = flip_batch(flipped, FlipGeometry.of(model))
    assert torch.equal(twice["joint_feats"][0], batch["joint_feats"][0]) and torch.equal(twice["window"], batch["window"])


def _temporal_config(frames: int, context: str = "fusion", **train_overrides) -> dict:
    cfg = tiny_config(train=dict(epochs=2, batch_size=6, in_memory=False, window_chunk=4, **train_overrides),
                      data=dict(frame_step=1))
    cfg["model"] = dict(type="TemporalPoseFormer", context=context, frames=frames, levels=[0, 1], embed_dim=16,
                        depth=1, spatial_heads=4, fusion_heads=4, temporal_joint_dim=4, temporal_depth=1,
                        temporal_heads=4, drop_path_rate=0.1)
    return cfg


def test_a_temporal_config_trains_and_evaluates_from_joint_features_alone(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=48, shard_frames=8)
    jf.write_joint_feats(store.path, progress=False)
    shutil.rmtree(store.path / "feat")  # no map can be read: every byte of feat/ is gone
    assert not (store.path / "feat").exists()
    cfg = _temporal_config(5)
    result = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "runs", config_name="t5",
                                progress=False))
    metrics = result.metrics
    assert result.epochs_done == 2 and metrics["num_frames"] == 24
    assert np.isfinite(metrics["mpjpe"]) and metrics["mpjve"] is not None and metrics["mpjve"] > 0
    per_video = metrics["per_video"]
    assert set(per_video) == {"S9_Eating.54138969", "S9_Walking.54138969"}
    for video in per_video.values():  # every frame of every test video predicted, in frame order
        assert video["num_frames"] == 12 and video["first_frame"] == 0 and video["last_frame"] == 11
        assert video["mpjve"] > 0
    saved = json.loads((result.run_dir / "metrics.json").read_text())
    assert saved["per_video"] == per_video
    # the one evaluation, through `capf eval`, on the same map-less store
    config_file = tmp_path / "t5.py"
    config_file.write_text("".join(f"{k} = {v!r}\n" for k, v in cfg.items()))
    evaluated = CliRunner().invoke(main, ["eval", "--config", str(config_file), "--ckpt",
                                          str(result.best_checkpoint), "--store", str(store.path)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "MPJVE" in evaluated.output and f"MPJPE {metrics['mpjpe']:.2f} mm" in evaluated.output


def test_the_poseformer_baseline_needs_no_joint_features(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=24, shard_frames=8)
    shutil.rmtree(store.path / "feat")
    result = train(TrainRequest(cfg=_temporal_config(3, context="none"), store_path=store.path,
                                work_root=tmp_path / "runs", config_name="pf3", max_iters=2, progress=False))
    assert result.iterations == 2
    with pytest.raises(StoreError, match="capf cache joint-feats"):  # CA-PF-S does, and says so before starting
        train(TrainRequest(cfg=_temporal_config(3), store_path=store.path, work_root=tmp_path / "runs",
                           config_name="c3", max_iters=1, progress=False))
    assert not (tmp_path / "runs" / "c3").exists()


def test_flops_per_output_frame():
    costs = {t: count_cost(_temporal(t)) for t in (1, 3, 9)}
    single = _temporal(1)
    counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
    with counter, torch.no_grad():
        single.encode_frames(torch.rand(1, 17, 2), [torch.randn(1, 17, c) for _, c in LEVELS])
    per_frame_encoding = counter.get_total_flops()
    for t, cost in costs.items():
        assert cost["frames"] == t and cost["breakdown"]["frame_encoder"] == t * per_frame_encoding
        assert sum(cost["breakdown"].values()) == cost["flops_per_frame"]
        # shared encodings: one per frame, whatever T
        assert cost["flops_per_frame_shared"] == cost["flops_per_frame"] - (t - 1) * per_frame_encoding
    assert costs[1]["flops_per_frame"] < costs[3]["flops_per_frame"] < costs[9]["flops_per_frame"]
    assert costs[1]["params"] < costs[9]["params"]  # the temporal embedding and the 1D convolution grow with T
    context_off = count_cost(_temporal(3, context="none"))
    assert context_off["flops_per_frame"] < costs[3]["flops_per_frame"]


def test_capf_flops_on_the_demo_temporal_configs():
    out = {}
    for name in ("capf_s_t9", "capf_s_t27", "poseformer_t27"):
        run = CliRunner().invoke(main, ["flops", f"configs/demo/temporal/{name}.py", "--json"])
        assert run.exit_code == 0, run.output
        out[name] = json.loads(run.output)
    assert out["capf_s_t27"]["frames"] == 27 and out["capf_s_t9"]["frames"] == 9
    assert out["capf_s_t9"]["flops_per_frame"] < out["capf_s_t27"]["flops_per_frame"]
    assert out["poseformer_t27"]["flops_per_frame"] < out["capf_s_t27"]["flops_per_frame"]
    text = CliRunner().invoke(main, ["flops", "configs/demo/temporal/capf_s_t27.py"]).output
    assert "27 frames per window" in text and "FLOPs per output frame" in text
