"""Temporal lifters: CA-PF-S's per-joint temporal stage and PoseFormer's frame tokens, shapes and
parameters per the papers, shared-frame windows equal window-by-window lifting, flipped batches read
the mirrored crops' joint features, a temporal config trains and evaluates from the joint features
alone (the maps deleted), and FLOPs per output frame."""

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch.utils.flop_counter import FlopCounterMode

from cache.store import FeatureStore, StoreError
from pipeline.cli import main
from stages.lift import joint_feats as jf
from stages.lift.augment import FlipGeometry, flip_batch
from stages.lift.dataset import BatchRequest
from stages.lift.sequence_dataset import SequenceDataset
from stages.lift.sequences import windows
from stages.lift.cost import EXTRA_FLOP_FORMULAS, count_cost, count_params
from stages.lift.temporal import ContextAwarePoseFormerS, PoseFormer, TemporalLifter
from stages.lift.train import TrainRequest, train
from tests.stages.lift.lift_stores import INPUT_WH, LEVELS, add_flip_maps, make_store, tiny_temporal_config


def _temporal(frames: int, context: str = "fusion") -> TemporalLifter:
    """A tiny CA-PF-S (C = 8: joint tokens of (1 + 2) x 8 = 24) or, for context="none", PoseFormer."""
    torch.manual_seed(0)
    geometry = dict(level_channels=[c for _, c in LEVELS], level_strides=[s for s, _ in LEVELS], input_size_wh=INPUT_WH)
    if context == "none":
        return PoseFormer(frames=frames, joint_dim=8, depth=1, spatial_heads=4, temporal_depth=1, temporal_heads=4,
                          **geometry).eval()
    return ContextAwarePoseFormerS(frames=frames, context=context, embed_dim=8, depth=1, spatial_heads=4,
                                   fusion_heads=4, temporal_depth=1, temporal_heads=4, **geometry).eval()


@pytest.mark.parametrize("context", ["fusion", "none"])
def test_shared_frames_give_the_window_by_window_result(context):
    model = _temporal(5, context)
    gen = torch.Generator().manual_seed(1)
    pose2d = torch.rand(9, 17, 2, generator=gen)
    feats = [torch.randn(9, 17, c, generator=gen).half() for _, c in LEVELS] if context != "none" else []
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


def test_capf_s_models_each_joint_alone_over_time_and_poseformer_the_whole_frame():
    """CA-PF-S's temporal stage is per joint: joint 3's tokens changed at every frame but the centre
    move joint 3's output only; PoseFormer's frame tokens carry every joint, so all of them move.
    Before that, the per-frame stage mixes the joints of its own frame and no other."""
    gen = torch.Generator().manual_seed(2)
    for context, per_joint in (("fusion", True), ("none", False)):
        model = _temporal(5, context)
        width = model.token_dim if per_joint else model.token_dim // 17
        tokens = torch.randn(2, 5, 17, width, generator=gen)
        moved = tokens.clone()
        moved[:, [0, 1, 3, 4], 3] += torch.randn(2, 4, width, generator=gen)
        with torch.no_grad():
            delta = (model.forward_temporal(moved) - model.forward_temporal(tokens)).norm(dim=-1)  # (B, J)
        others = torch.ones(17, dtype=torch.bool)
        others[3] = False
        assert (delta[:, 3] > 1e-4).all()
        if per_joint:
            assert delta[:, others].max() == 0
        else:
            assert (delta[:, others] > 1e-6).all()
        # the per-frame stage: joint 3 moved in frame 1 changes frame 1's tokens (all joints mix) only
        pose2d = torch.rand(4, 17, 2, generator=gen)
        feats = [torch.randn(4, 17, c, generator=gen) for _, c in LEVELS] if context != "none" else []
        nudged = pose2d.clone()
        nudged[1, 3] += 0.2
        with torch.no_grad():
            before, after = model.encode_frames(pose2d, feats), model.encode_frames(nudged, feats)
        change = (after - before).abs().amax(dim=-1)  # (U, J)
        assert (change[1] > 0).all() and change[[0, 2, 3]].max() == 0


def test_shapes_and_parameters_follow_the_papers():
    """CA-PF-S: J sequences of T tokens of (L+1)*C, one temporal embedding (1, T, (L+1)*C), a 1D
    convolution T -> 1, Linear((L+1)*C -> 3); its temporal stage does not grow with J. PoseFormer:
    32 per joint, frame tokens of 17 x 32 = 544, Linear(544 -> 51), 9.6 M parameters at T = 81 (the
    PoseFormer paper's count for its 81-frame model)."""
    capf = ContextAwarePoseFormerS(frames=27, embed_dim=32)  # the paper's HRNet-W32 levels, C = 32
    assert capf.token_dim == 5 * 32 and capf.temporal_pos_embed.shape == (1, 27, 160)
    assert capf.frame_weights.weight.shape == (1, 27, 1) and capf.head[1].weight.shape == (3, 160)
    fewer_joints = ContextAwarePoseFormerS(frames=27, embed_dim=32, num_joints=9)
    temporal_params = lambda m: sum(p.numel() for n, p in m.named_parameters() if not n.startswith("frame_encoder."))
    assert temporal_params(fewer_joints) == temporal_params(capf)
    tokens = capf.sequences(torch.zeros(2, 27, 17, 160))
    assert tokens.shape == (2 * 17, 27, 160)
    poseformer = PoseFormer(frames=81)
    assert poseformer.token_dim == 17 * 32 and poseformer.temporal_pos_embed.shape == (1, 81, 544)
    assert poseformer.head[1].weight.shape == (51, 544) and poseformer.frame_encoder.coord_embed.weight.shape == (32, 2)
    assert round(count_params(poseformer) / 1e6, 1) == 9.6


def test_a_flipped_temporal_batch_reads_the_mirrored_crops_joint_features():
    """With ``joint_feats_flip`` (the mirrored crops' features at the mirrored joints, unflipped
    order) a flipped batch takes those, relabelled left <-> right like the 2D; without, it swaps the
    left and right joints' own features (the 'mirrored' approximation)."""
    model = _temporal(3)
    batch = {"pose2d": torch.rand(4, 17, 2), "joint_feats": [torch.randn(4, 17, 8)], "window": torch.zeros(2, 3),
             "target": torch.rand(2, 17, 3)}
    mirrored = flip_batch(batch, FlipGeometry.of(model))
    assert torch.equal(mirrored["joint_feats"][0][:, 1], batch["joint_feats"][0][:, 4])  # r-hip <- l-hip
    assert torch.equal(mirrored["pose2d"][:, 1, 0], -batch["pose2d"][:, 4, 0])
    extracted = flip_batch({**batch, "joint_feats_flip": [torch.randn(4, 17, 8)]}, FlipGeometry.of(model))
    assert "joint_feats_flip" not in extracted
    flip_feats = extracted["joint_feats"][0]
    assert not torch.equal(flip_feats, mirrored["joint_feats"][0])
    twice = flip_batch(mirrored, FlipGeometry.of(model))
    assert torch.equal(twice["joint_feats"][0], batch["joint_feats"][0]) and torch.equal(twice["window"], batch["window"])


def test_flip_joint_features_are_the_flip_maps_at_the_mirrored_joints(tmp_path):
    """``joint_feat_flip/<l>`` samples ``feat_flip/<l>`` at x -> W_in - 1 - x. Flip maps that hold each
    cell's own pixel position (x in channel 0, y in channel 1; cell u at u * stride, the mmpose
    convention) must read back the mirrored x and the same y at every joint (clamped to the last
    cell centre: border padding); the sequence dataset serves them to a flipped batch."""
    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)

    def pixel_maps(name, maps):
        out = np.zeros_like(maps)
        stride = LEVELS[int(name)][0]
        out[:, 0] = np.arange(maps.shape[-1])[None, None, :] * stride
        out[:, 1] = np.arange(maps.shape[-2])[None, :, None] * stride
        return out

    add_flip_maps(store.path, pixel_maps)
    run = CliRunner().invoke(main, ["cache", "joint-feats", str(store.path), "--quiet"])
    assert run.exit_code == 0, run.output
    assert "joint_feat and joint_feat_flip" in run.output
    store = FeatureStore.open(store.path)
    ref = jf.reference_points_px(store, np.arange(16))
    for level, (stride, _) in enumerate(LEVELS):
        width, height = INPUT_WH[0] // stride, INPUT_WH[1] // stride
        sampled = store.read(f"joint_feat_flip/{level}").astype(np.float32)
        np.testing.assert_allclose(sampled[..., 0], np.clip(INPUT_WH[0] - 1 - ref[..., 0], 0, (width - 1) * stride),
                                   atol=0.02)
        np.testing.assert_allclose(sampled[..., 1], np.clip(ref[..., 1], 0, (height - 1) * stride), atol=0.02)
    dataset = SequenceDataset(store.path, np.arange(16), ["0", "1"], window_frames=3, flip_joint_feats=True)
    batch = dataset[BatchRequest(np.array([2, 5]), ("feat_flip",))]
    assert batch["joint_feats"] == [] and len(batch["joint_feats_flip"]) == 2
    frames = dataset.inputs.frames[np.unique(windows(dataset.videos, np.array([2, 5]), 3))]
    np.testing.assert_array_equal(batch["joint_feats_flip"][1].numpy(), store.read("joint_feat_flip/1")[frames])


def _temporal_config(frames: int, context: str = "fusion", **train_overrides) -> dict:
    return tiny_temporal_config(frames, context, train=dict(epochs=2, batch_size=6, in_memory=False, **train_overrides),
                                data=dict(frame_step=1))


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


def test_ca_pf_s_trains_and_flip_tests_on_the_mirrored_crops_joint_features(tmp_path):
    """flip_features='extracted': refused, before a run dir exists, on a store whose feat_flip came
    after its joint features (no joint_feat_flip yet), naming the command; once `capf cache
    joint-feats` adds them, every mirrored training batch (flip_prob 1) reads them (the loop stops
    on one that does not) and so does the flip test."""
    store = make_store(tmp_path / "s.zarr", num_frames=24, shard_frames=8)
    jf.write_joint_feats(store.path, progress=False)
    add_flip_maps(store.path, lambda name, maps: 2.0 * maps)
    cfg = _temporal_config(3, flip_features="extracted", flip_prob=1.0)
    cfg["eval"] = {**cfg["eval"], "flip_features": "extracted"}
    with pytest.raises(StoreError, match="joint_feat_flip.*capf cache joint-feats"):
        train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "runs", config_name="c3",
                           max_iters=1, progress=False))
    assert not (tmp_path / "runs" / "c3").exists()
    assert jf.write_joint_feats(store.path, progress=False).groups == ("joint_feat_flip",)
    result = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "runs", config_name="c3",
                                max_iters=2, progress=False))
    assert result.iterations == 2 and result.metrics["flip_features"] == "extracted"
    assert np.isfinite(result.metrics["mpjpe"])


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
