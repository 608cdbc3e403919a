"""The real mmpose detector: levels from hooks, strict checkpoint loading, sha256 checks."""

import numpy as np
import pytest
import torch

from stages.detector.topdown import DetectorError, TopdownDetector, load_detector_config, verify_checkpoint
from stages.extract.sources import build_source, load_frame
from tests.helpers import SLIM_DETECTOR, mpii_headed_checkpoint

W32 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"
RES50 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py"


def test_hrnet_w32_levels_are_the_authors_four_branches():
    detector = TopdownDetector(W32, None, random_init=True)
    shapes = [(lv.stride, lv.channels, lv.height, lv.width) for lv in detector.levels]
    assert shapes == [(4, 32, 64, 48), (8, 64, 32, 24), (16, 128, 16, 12), (32, 256, 8, 6)]
    assert detector.input_size_wh == (192, 256)


def test_resnet50_levels_are_its_stage_outputs():
    detector = TopdownDetector(RES50, None, random_init=True)
    shapes = [(lv.stride, lv.channels) for lv in detector.levels]
    assert shapes == [(4, 256), (8, 512), (16, 1024), (32, 2048)]


def test_level0_is_exactly_what_the_heatmap_head_reads(h36m_root):
    """Level 0 is the fused high-resolution output: the head applied to it gives the heatmaps."""
    detector = TopdownDetector(SLIM_DETECTOR, None, random_init=True)
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    batch = {"inputs": [], "data_samples": []}
    for i in range(2):
        packed = detector.crop(load_frame(index.root, index.image_names[i]), index.bboxes_xyxy[i])
        batch["inputs"].append(packed["inputs"])
        batch["data_samples"].append(packed["data_samples"])
    data = detector.model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        feats = detector.model.extract_feat(data["inputs"])
        level0 = detector._captured[0]
        heatmaps = detector.model.head.forward(feats)
        np.testing.assert_array_equal(detector.model.head.forward((level0,)).numpy(), heatmaps.numpy())


def test_checkpoint_round_trip_loads_every_tensor(tmp_path):
    source = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=3)
    path = tmp_path / "slim.pth"
    torch.save({"state_dict": source.model.state_dict(), "meta": {}}, path)
    digest = verify_checkpoint(path, None)
    loaded = TopdownDetector(SLIM_DETECTOR, path, checkpoint_sha256=digest)
    fresh = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=4)
    assert loaded.checkpoint_sha256 == digest
    for name, tensor in source.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor), name
    differing = [n for n, t in fresh.model.state_dict().items()
                 if t.is_floating_point() and not torch.equal(t, source.model.state_dict()[n])]
    assert len(differing) > 10  # a different seed really gives different weights


def test_checkpoint_lacking_a_tensor_is_refused(tmp_path):
    state = TopdownDetector(SLIM_DETECTOR, None, random_init=True).model.state_dict()
    state.pop("head.final_layer.weight")
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(DetectorError, match=r"partial.pth: checkpoint lacks 1 .*head.final_layer.weight"):
        TopdownDetector(SLIM_DETECTOR, path)


def test_checkpoint_with_wrongly_shaped_tensors_is_refused_in_one_line(tmp_path):
    path = mpii_headed_checkpoint(tmp_path / "mpii.pth")
    with pytest.raises(DetectorError) as caught:
        TopdownDetector(SLIM_DETECTOR, path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    assert "head.final_layer.weight" in message  # which tensor, as for a missing one


def test_checkpoint_sha256_is_verified(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"a": torch.zeros(1)}, path)
    with pytest.raises(DetectorError, match="x.pth: sha256 .* does not match the configured 000000000000"):
        verify_checkpoint(path, "0" * 64)
    with pytest.raises(DetectorError, match="nope.pth: checkpoint not found"):
        verify_checkpoint(tmp_path / "nope.pth", None)


def test_unknown_or_wrong_config_is_named(tmp_path):
    with pytest.raises(DetectorError, match="no_such.py: detector config not found"):
        load_detector_config(str(tmp_path / "no_such.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("model = dict(type='BottomupPoseEstimator')\n")
    with pytest.raises(DetectorError, match="bad.py: not an mmpose top-down model config"):
        load_detector_config(str(bad))


MSPN50 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_mspn50_8xb32-210e_coco-256x192.py"
VITPOSE_B = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_ViTPose-base_8xb64-210e_coco-256x192.py"


@pytest.mark.slow
@pytest.mark.parametrize("config, shapes", [
    (MSPN50, [(4, 256, 64, 48), (8, 256, 32, 24), (16, 256, 16, 12), (32, 256, 8, 6)]),
    (VITPOSE_B, [(4, 256, 64, 48), (8, 256, 32, 24), (16, 768, 16, 12)]),
])
def test_backbone_study_detectors_and_their_levels(config, shapes, h36m_root):
    """The paper's Table 7 backbones from mmpose's zoo: CPN-like MSPN-50 (the GlobalNet's four
    upsample-unit maps) and ViTPose-B (the head's deconvolutions + the ViT token map) build, decode a
    real frame, and their finest level is exactly what the heatmap head turns into heatmaps."""
    detector = TopdownDetector(config, None, random_init=True)
    assert [(lv.stride, lv.channels, lv.height, lv.width) for lv in detector.levels] == shapes
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    packed = detector.crop(load_frame(index.root, index.image_names[0]), index.bboxes_xyxy[0])
    batch = {"inputs": [packed["inputs"]], "data_samples": [packed["data_samples"]]}
    out = detector.forward(batch)
    assert [out[f"feat/{i}"].shape[1:] for i in range(len(shapes))] == [s[1:] for s in shapes]
    assert out["det_kp2d"].shape == (1, 17, 2) and np.isfinite(out["det_kp2d"]).all()
    data = detector.model.data_preprocessor(batch, training=False)
    with torch.no_grad():
        feats = detector.model.extract_feat(data["inputs"])
        detector._head_features(feats)
        finest = detector._captured[0]
        if config == MSPN50:  # unit 4 of the single stage: the map the head's last unit reads
            assert finest is feats[0][3]
        else:  # the second deconvolution's output: the final 1x1 conv gives the heatmaps
            heatmaps = detector.model.head.forward(feats)
            torch.testing.assert_close(detector.model.head.final_layer(finest), heatmaps)
