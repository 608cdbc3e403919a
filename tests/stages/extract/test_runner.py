"""Stage one in process: what the store holds, the pixel conventions, cache hits, 2D sources."""

import numpy as np
import pytest
import torch

from cache.store import FeatureStore
from stages.detector.topdown import TopdownDetector
from stages.extract.runner import ExtractRequest, plan_extraction, run_extraction
from tests.helpers import SLIM_DETECTOR, slim_extract_config


def extract(cfg, data_root, cache_dir, **kwargs):
    request = ExtractRequest(config=cfg, data_root=data_root, cache_dir=cache_dir, random_init=True,
                             device="cpu", progress=False, **kwargs)
    return run_extraction(request)


@pytest.fixture(scope="module")
def slim_store(h36m_root, tmp_path_factory):
    result = extract(slim_extract_config(shard_frames=3), h36m_root, tmp_path_factory.mktemp("cache"))
    return FeatureStore.open(result.path)


def test_store_holds_detector_outputs_and_ground_truth(slim_store, h36m_root):
    ann = np.load(h36m_root / "test_h36m_body3d.npz")
    assert slim_store.is_complete() and slim_store.num_frames == 4 and slim_store.spec.num_shards == 2
    np.testing.assert_allclose(slim_store.read("gt3d"), ann["S"][..., :3] * 1000, rtol=1e-6)
    assert slim_store.read("kp2d").shape == (4, 17, 2)
    assert [(lv.stride, lv.channels, lv.height, lv.width) for lv in slim_store.levels] == [
        (4, 16, 32, 24), (8, 32, 16, 12), (16, 64, 8, 6), (32, 128, 4, 3)]
    assert slim_store.spec.joint_format == "coco17" and slim_store.attrs["random_init"] is True
    assert slim_store.attrs["key_inputs"]["checkpoint_sha256"] == "random-init:0"
    assert np.isfinite(slim_store.read("feat/3")).all() and np.abs(slim_store.read("feat/0")).max() > 0


def test_affine_round_trip(slim_store):
    """Joints written in image pixels map through the stored crop transform onto the stored
    detector-input joints, and back."""
    kp, kp_input, affine = slim_store.read("kp2d"), slim_store.read("kp2d_input"), slim_store.read("affine")
    mapped = np.einsum("nij,nkj->nki", affine[:, :, :2], kp) + affine[:, None, :, 2]
    np.testing.assert_allclose(mapped, kp_input, atol=1e-3)
    full = np.concatenate([affine, np.tile([[[0, 0, 1]]], (len(affine), 1, 1))], axis=1)
    inverse = np.linalg.inv(full)[:, :2]
    back = np.einsum("nij,nkj->nki", inverse[:, :, :2], kp_input) + inverse[:, None, :, 2]
    np.testing.assert_allclose(back, kp, atol=1e-2)


def test_joint_sits_on_the_heatmap_peak_the_detector_decoded(slim_store):
    """Pixel convention: feature pixel u of stride s is at input pixel u*s (mmpose's codec). The
    head applied to the stored level 0 gives heatmaps whose peak for each joint lies within mmpose's
    quarter-pixel refinement of kp2d_input / s."""
    detector = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=0)
    level0 = torch.from_numpy(slim_store.read("feat/0").astype(np.float32))
    with torch.no_grad():
        heatmaps = detector.model.head.forward((level0,)).numpy()  # (N, 17, 32, 24)
    stride = slim_store.levels[0].stride
    location = slim_store.read("kp2d_input") / stride
    n, j, h, w = heatmaps.shape
    flat = heatmaps.reshape(n, j, -1)
    peak = np.stack(np.unravel_index(flat.argmax(-1), (h, w))[::-1], axis=-1)  # (x, y)
    found = flat.max(-1) > 0  # mmpose's decoder returns -1 for a joint whose heatmap peak is <= 0
    assert found.mean() > 0.5
    offset = np.abs(location - peak).max(-1)[found]
    assert (offset <= 0.25 + 1e-4).mean() > 0.9
    # Where fp16 storage moved the argmax to a near-tie, the decoded cell is still a peak:
    cell = np.rint(location).astype(int).clip(0, [w - 1, h - 1])
    n_idx, j_idx = np.nonzero(found)
    value = heatmaps[n_idx, j_idx, cell[n_idx, j_idx, 1], cell[n_idx, j_idx, 0]]
    top, spread = flat.max(-1)[found], np.ptp(flat, -1)[found]
    assert (value >= top - 0.02 * spread).all()
    np.testing.assert_array_equal(location[~found], -1.0)  # input px -s, i.e. map location -1


def test_second_run_is_a_cache_hit(slim_store, h36m_root):
    result = extract(slim_extract_config(shard_frames=3), h36m_root, slim_store.path.parent)
    assert result.cache_hit and result.frames_written == 0 and "cache hit" in result.summary()


def test_layout_settings_do_not_change_the_key_but_feature_inputs_do(h36m_root, tmp_path):
    def path_of(cfg):
        return plan_extraction(ExtractRequest(cfg, h36m_root, tmp_path, random_init=True)).path

    base = path_of(slim_extract_config())
    assert path_of(slim_extract_config(shard_frames=2, cache={"compression": "blosc-zstd"},
                                       runtime={"batch_size": 1, "num_workers": 2})) == base
    assert path_of(slim_extract_config(detector={"seed": 1})) != base
    assert path_of(slim_extract_config(detector={"flip_test": True})) != base
    assert path_of(slim_extract_config(
        detector={"config": "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"})) != base
    assert path_of(slim_extract_config(kp2d={"source": "external", "file": "test_h36m_2d_detection.npy"})) != base


def test_external_2d_source(h36m_root, tmp_path):
    cfg = slim_extract_config(kp2d={"source": "external", "file": "test_h36m_2d_detection.npy"})
    store = FeatureStore.open(extract(cfg, h36m_root, tmp_path).path)
    external = np.load(h36m_root / "test_h36m_2d_detection.npy")
    assert store.spec.joint_format == "h36m17"
    np.testing.assert_allclose(store.read("kp2d"), external[..., :2], rtol=1e-6)
    np.testing.assert_allclose(store.read("score"), external[..., 2], rtol=1e-6)
    affine = store.read("affine")
    mapped = np.einsum("nij,nkj->nki", affine[:, :, :2], external[..., :2]) + affine[:, None, :, 2]
    np.testing.assert_allclose(store.read("kp2d_input"), mapped, atol=1e-3)
    assert store.read("det_kp2d").shape == (4, 17, 2)  # the detector's own joints are kept too
