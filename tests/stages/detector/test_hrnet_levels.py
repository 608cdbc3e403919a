"""HRNet's two level sets: CAPF's default (the tensors entering stage 4) and the authors' (the first
stage-4 module's branch outputs), each an explicit, keyed choice; and a backbone without a head."""

from __future__ import annotations

import pytest
import torch

from stages.detector.topdown import DetectorError, TopdownDetector
from stages.extract.plan import ExtractRequest, plan_extraction
from stages.extract.sources import SourceError
from tests.helpers import SLIM_DETECTOR, slim_extract_config

RES50 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py"


def test_the_authors_levels_are_the_first_stage4_modules_branch_outputs():
    capf = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=1)
    authors = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=1, hrnet_levels="stage4_branch_outputs")
    assert capf.levels == authors.levels  # same shapes, strides, channels
    inputs = torch.randn(2, 3, 128, 96)
    ours, theirs = capf.maps_of_inputs(inputs), authors.maps_of_inputs(inputs)
    torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=0)  # level 0: the fused output either way
    stage4 = authors.model.backbone.stage4[0]
    for level in (1, 2, 3):
        assert not torch.allclose(ours[level], theirs[level])
        # the branch applied to the tensor that entered stage 4 is the authors' level
        torch.testing.assert_close(stage4.branches[level](ours[level]), theirs[level])


def test_the_choice_enters_the_store_key_and_the_default_keeps_old_keys(h36m_root, tmp_path):
    def key(**detector):
        cfg = slim_extract_config(detector=detector)
        return plan_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path,
                                              random_init=True)).key_inputs
    unset, default, authors = key(), key(hrnet_levels="stage4_inputs"), key(hrnet_levels="stage4_branch_outputs")
    assert unset == default and unset.key() == default.key()
    assert authors.detector_config_sha256 != default.detector_config_sha256 and authors.key() != default.key()


def test_unknown_sets_and_non_hrnet_backbones_are_refused():
    with pytest.raises(DetectorError, match="hrnet_levels must be one of"):
        TopdownDetector(SLIM_DETECTOR, None, random_init=True, hrnet_levels="stage3")
    with pytest.raises(DetectorError, match="is for HRNet backbones"):
        TopdownDetector(RES50, None, random_init=True, hrnet_levels="stage4_branch_outputs")


def test_a_backbone_without_a_head_needs_its_2d_from_elsewhere(h36m_root, tmp_path):
    cfg = slim_extract_config(detector={"config": "configs/detectors/hrnet_w32_backbone_256x192.py"})
    with pytest.raises(SourceError, match="without a heatmap head gives no 2D joints"):
        plan_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path, random_init=True))


def test_a_backbone_without_a_head_extracts_maps_with_external_2d(h36m_root, tmp_path):
    """The authors' CA-PF backbone setting: maps from the headless HRNet, joints from the 2D file."""
    import numpy as np

    from cache.store import FeatureStore
    from stages.extract.runner import run_extraction

    cfg = slim_extract_config(detector={"config": "configs/detectors/hrnet_w32_backbone_256x192.py",
                                        "hrnet_levels": "stage4_branch_outputs"},
                              kp2d={"source": "external", "file": "test_h36m_2d_detection.npy"})
    result = run_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path, random_init=True,
                                           device="cpu", progress=False))
    store = FeatureStore.open(result.path)
    assert [lv.channels for lv in store.levels] == [32, 64, 128, 256]
    assert store.attrs["hrnet_levels"] == "stage4_branch_outputs"
    external = np.load(h36m_root / "test_h36m_2d_detection.npy")[..., :2]
    np.testing.assert_allclose(store.read("kp2d"), external, atol=1e-4)
    assert np.isfinite(store.read("feat/1")).all()
