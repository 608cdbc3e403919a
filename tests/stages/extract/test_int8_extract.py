"""int8 extraction on the four real Human3.6M frames: half the feature bytes, maps within 0.5 %."""

import numpy as np
import pytest

from cache.store import FeatureStore
from stages.extract.runner import ExtractRequest, run_extraction
from stages.lift.dataset import CacheBatchDataset
from tests.helpers import slim_extract_config


def _extract(h36m_root, cache_dir, **cache):
    cfg = slim_extract_config(shard_frames=4, cache=cache)
    return FeatureStore.open(run_extraction(ExtractRequest(cfg, h36m_root, cache_dir, random_init=True, device="cpu",
                                                           progress=False)).path)


def _payload_bytes(store: FeatureStore, prefix: str) -> int:
    """Bytes of the chunks of every `prefix/<l>` array (shard files minus their index and its crc)."""
    total = 0
    for level in store.levels:
        for shard_file in (p for p in (store.path / prefix / level.name / "c").rglob("*") if p.is_file()):
            total += shard_file.stat().st_size - (16 * store.spec.shard_frames + 4)
    return total


@pytest.fixture(scope="module")
def stores(h36m_root, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    return {(dtype, codec): _extract(h36m_root, cache / f"{dtype}-{codec}", dtype=dtype, compression=codec)
            for dtype, codec in (("float16", "none"), ("int8", "none"), ("int8", "blosc-zstd"))}


def test_int8_store_holds_half_the_feature_bytes(stores):
    fp16, int8 = stores[("float16", "none")], stores[("int8", "none")]
    assert fp16.key != int8.key and int8.spec.feature_dtype == "int8"
    codes, fp16_bytes = _payload_bytes(int8, "feat"), _payload_bytes(fp16, "feat")
    chunks = 4 * len(fp16.levels)
    assert codes - 4 * chunks == (fp16_bytes - 4 * chunks) // 2  # uint8 codes: exactly half (crc32c trailers aside)
    scales = _payload_bytes(int8, "feat_scale")
    channels = sum(level.channels for level in fp16.levels)
    assert scales == 4 * (channels * 8) + 4 * chunks  # (offset, step) float32 per frame and channel
    # whole stores (measured 0.61 raw, 0.54 with blosc-zstd for these 4 frames): above 0.5, because
    # the codes are exactly half and the scales, chunk checksums and shard indexes come on top. The
    # derived joint_feat/<l> (fp16 in both, 17 x C per frame: issue 11) is left out of the comparison.
    def without_joint_feats(store: FeatureStore) -> int:
        derived = sum(p.stat().st_size for p in (store.path / "joint_feat").rglob("*") if p.is_file())
        return store.size_on_disk() - derived

    whole = {k: without_joint_feats(s) for k, s in stores.items()}
    assert whole[("int8", "blosc-zstd")] < whole[("int8", "none")] < 0.65 * whole[("float16", "none")], whole


def test_int8_maps_are_the_fp16_maps_within_half_a_percent(stores):
    fp16, int8 = stores[("float16", "none")], stores[("int8", "blosc-zstd")]
    names = [level.name for level in fp16.levels]
    exact = CacheBatchDataset(fp16.path, np.arange(4), names)[np.arange(4)]["feats"]
    approx = CacheBatchDataset(int8.path, np.arange(4), names)[np.arange(4)]["feats"]
    for ref, got in zip(exact, approx):
        ref, got = ref.float().numpy().reshape(4, -1), got.float().numpy().reshape(4, -1)
        assert (np.linalg.norm(got - ref, axis=1) / np.linalg.norm(ref, axis=1)).max() < 0.005
    for name in ("kp2d", "kp2d_input", "score", "affine", "gt3d"):
        np.testing.assert_array_equal(int8.read(name), fp16.read(name))


def test_converting_the_fp16_store_gives_the_int8_extraction_byte_for_byte(stores, tmp_path):
    from cache.convert import convert_store

    extracted = stores[("int8", "none")]
    converted = FeatureStore.open(convert_store(stores[("float16", "none")].path, tmp_path, feature_dtype="int8"))
    assert converted.path.name == extracted.path.name  # same content key
    names = [f"{prefix}/{level.name}" for prefix in ("feat", "feat_scale") for level in extracted.levels]
    for name in [*names, "kp2d", "kp2d_input", "score", "det_kp2d", "affine", "bbox", "gt3d", "camera",
                 "index/subject", "index/frame", "done"]:
        assert converted.read(name).tobytes() == extracted.read(name).tobytes(), name
    assert converted.labels("action") == extracted.labels("action")


@pytest.mark.slow
def test_make_extract_default_int8_store_is_at_most_half_the_fp16_store(h36m_root, tmp_path):
    """The issue's check as a user runs it: `make extract RANDOM_INIT=1` (HRNet-W32, the Makefile's
    config, default shards) on the four bundled frames, fp16 vs int8. Whole stores, every file counted:
    int8 raw cannot reach 0.5 (the codes are exactly half and scales, checksums, shard indexes and the
    fp16 joint features come on top); int8 with blosc-zstd does (measured 0.43 raw-fp16, 0.56 raw int8)."""
    from pipeline.config import load_config

    def whole_store(**cache) -> int:
        cfg = load_config("configs/extract/h36m_hrnet_w32.py")
        cfg["cache"].update(cache)
        result = run_extraction(ExtractRequest(cfg, h36m_root, tmp_path / "-".join(cache.values() or ["fp16"]),
                                               random_init=True, device="cpu", progress=False))
        return sum(p.stat().st_size for p in result.path.rglob("*") if p.is_file())

    fp16 = whole_store()
    int8, int8_zstd = whole_store(dtype="int8"), whole_store(dtype="int8", compression="blosc-zstd")
    assert int8_zstd <= 0.5 * fp16 < int8 < 0.6 * fp16, (fp16, int8, int8_zstd)
