"""The store's joint features equal what the lifter samples itself, follow the 2D source, are
written by extraction and by `capf cache joint-feats`, and never appear half-written."""

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cache.store import FeatureStore, StoreError
from cache.verify import verify_store
from pipeline.cli import main
from stages.extract.runner import ExtractRequest, run_extraction
from stages.lift import joint_feats as jf
from stages.lift.dataset import CacheBatchDataset
from stages.lift.joints import coco17_to_h36m17
from stages.lift.model import ContextAwarePoseFormer
from stages.lift.sampling import sample_joint_features
from tests.helpers import slim_extract_config
from tests.stages.lift.lift_stores import INPUT_WH, LEVELS, make_store


def _model(convention: str, context: str = "fusion") -> ContextAwarePoseFormer:
    torch.manual_seed(0)
    return ContextAwarePoseFormer(level_channels=[c for _, c in LEVELS], level_strides=[s for s, _ in LEVELS],
                                  input_size_wh=INPUT_WH, context=context, embed_dim=16, depth=1, spatial_heads=4,
                                  fusion_heads=4, ref_convention=convention).eval()


def _model_samples(model: ContextAwarePoseFormer, batch: dict) -> list[torch.Tensor]:
    """What the model itself samples at the joints: the inputs of its per-level projections."""
    seen: dict[int, torch.Tensor] = {}
    hooks = [embed.register_forward_pre_hook(lambda _m, args, i=i: seen.__setitem__(i, args[0].detach().clone()))
             for i, embed in enumerate(model.feat_embed)]
    try:
        with torch.no_grad():
            out = model(batch["pose2d"], batch["feats"], batch["ref_px"])
    finally:
        for hook in hooks:
            hook.remove()
    return [seen[i] for i in range(len(model.feat_embed))], out


@pytest.mark.parametrize("convention", ["mmpose", "authors"])
def test_joint_feat_equals_what_the_model_samples(tmp_path, convention):
    store = make_store(tmp_path / "s.zarr", num_frames=12, shard_frames=5)
    result = jf.write_joint_feats(store.path, convention=convention, progress=False)
    assert result.written and result.frames == 12
    store = FeatureStore.open(store.path)
    info = jf.require_joint_feats(store, ["0", "1"], convention)
    assert info["convention"] == convention and info["joints"] == "h36m17"
    model = _model(convention)
    batch = CacheBatchDataset(store.path, np.arange(12), ["0", "1"])[np.arange(12)]
    sampled, out = _model_samples(model, batch)
    for level, values in enumerate(sampled):
        cached = store.read(f"joint_feat/{level}")
        assert cached.dtype == np.float16 and cached.shape == (12, 17, LEVELS[level][1])
        np.testing.assert_array_equal(cached, values.half().numpy())
    # the fast path from the cache lifts like the maps path, up to the fp16 rounding of the samples
    with torch.no_grad():
        cached_feats = [torch.from_numpy(store.read(f"joint_feat/{i}")) for i in range(2)]
        fast = model.forward_from_joint_feats(batch["pose2d"], cached_feats)
    np.testing.assert_allclose(fast.numpy(), out.numpy(), atol=2e-3)


def test_joint_feat_follows_the_2d_source(tmp_path):
    """Detector joints (COCO) are sampled at their H36M conversion; external H36M joints as they are."""
    for fmt in ("coco17", "h36m17"):
        store = make_store(tmp_path / f"{fmt}.zarr", num_frames=6, shard_frames=4, joint_format=fmt)
        jf.write_joint_feats(store.path, progress=False)
        ref = store.read("kp2d_input")
        ref = coco17_to_h36m17(ref) if fmt == "coco17" else ref
        maps = [torch.from_numpy(store.read(f"feat/{i}")) for i in range(2)]
        expected = sample_joint_features(maps, torch.from_numpy(ref), level_strides=[s for s, _ in LEVELS],
                                         input_size_wh=INPUT_WH, convention="mmpose", padding_mode="border")
        for level in range(2):
            np.testing.assert_array_equal(store.read(f"joint_feat/{level}"), expected[level].half().numpy())


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.zarr", num_frames=10, shard_frames=4)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    real = jf.sample_store_frames
    monkeypatch.setattr(jf, "sample_store_frames", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        jf.write_joint_feats(store.path, progress=False)
    assert not (store.path / "joint_feat").exists() and not list(store.path.glob("joint_feat.tmp-*"))
    assert jf.joint_feat_info(FeatureStore.open(store.path)) is None
    with pytest.raises(StoreError, match="capf cache joint-feats"):
        jf.require_joint_feats(FeatureStore.open(store.path), ["0"], "mmpose")
    # a killed run's temporary group is removed by the next run, which completes
    (store.path / "joint_feat.tmp-1-2").mkdir()
    monkeypatch.setattr(jf, "sample_store_frames", real)
    assert jf.write_joint_feats(store.path, progress=False).written
    assert not list(store.path.glob("joint_feat.tmp-*"))
    report = verify_store(store.path)
    assert report.ok and report.chunks_read > 0


def test_cache_command_adds_them_once_and_verify_reads_them(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=8, shard_frames=4)
    before = verify_store(store.path).chunks_read
    first = CliRunner().invoke(main, ["cache", "joint-feats", str(store.path), "--quiet"])
    assert first.exit_code == 0, first.output
    assert "written" in first.output
    second = CliRunner().invoke(main, ["cache", "joint-feats", str(store.path), "--quiet"])
    assert second.exit_code == 0 and "nothing to do" in second.output
    assert verify_store(store.path).chunks_read == before + 2 * 8  # one chunk per frame per level
    other = CliRunner().invoke(main, ["cache", "joint-feats", str(store.path), "--convention", "authors",
                                      "--overwrite", "--quiet"])
    assert other.exit_code == 0
    assert jf.joint_feat_info(FeatureStore.open(store.path))["convention"] == "authors"
    with pytest.raises(StoreError, match="ref_convention='authors'"):
        jf.require_joint_feats(FeatureStore.open(store.path), ["0"], "mmpose")
    missing = CliRunner().invoke(main, ["cache", "joint-feats", str(tmp_path / "nope.zarr")])
    assert missing.exit_code != 0 and "not a feature store" in missing.output


def _extract(cfg, data_root, cache_dir):
    return run_extraction(ExtractRequest(config=cfg, data_root=data_root, cache_dir=cache_dir, random_init=True,
                                         device="cpu", progress=False))


@pytest.mark.parametrize("kp2d", [{"source": "detector"},
                                  {"source": "external", "file": "test_h36m_2d_detection.npy"}])
def test_extraction_writes_them_after_the_maps(h36m_root, tmp_path, kp2d):
    result = _extract(slim_extract_config(shard_frames=3, kp2d=kp2d), h36m_root, tmp_path / "cache")
    store = FeatureStore.open(result.path)
    model = ContextAwarePoseFormer(level_channels=[lv.channels for lv in store.levels],
                                   level_strides=[lv.stride for lv in store.levels],
                                   input_size_wh=tuple(store.attrs["key_inputs"]["input_size_wh"]), context="concat",
                                   embed_dim=16, depth=1, spatial_heads=4).eval()
    names = [lv.name for lv in store.levels]
    sampled, _ = _model_samples(model, CacheBatchDataset(store.path, np.arange(4), names)[np.arange(4)])
    for name, values in zip(names, sampled):
        np.testing.assert_array_equal(store.read(f"joint_feat/{name}"), values.half().numpy())
    if kp2d["source"] == "external":  # the reference points are the external joints mapped into the crop
        external = np.load(h36m_root / "test_h36m_2d_detection.npy")[..., :2]
        affine = store.read("affine")
        mapped = np.einsum("nij,nkj->nki", affine[:, :, :2], external) + affine[:, None, :, 2]
        np.testing.assert_allclose(jf.reference_points_px(store, np.arange(4)), mapped, atol=1e-3)
    # a store from before joint features: the cache hit adds them from the maps, no detector work
    shutil.rmtree(store.path / "joint_feat")
    again = _extract(slim_extract_config(shard_frames=3, kp2d=kp2d), h36m_root, tmp_path / "cache")
    assert again.cache_hit and again.frames_written == 0
    assert jf.joint_feat_info(FeatureStore.open(store.path))["complete"]
