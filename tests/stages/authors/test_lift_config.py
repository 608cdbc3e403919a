"""The generated lift config builds the converted model with every parity option at the authors' value."""

from __future__ import annotations

import pytest
import torch

from pipeline.config import load_config
from stages.authors.fixture import lifter_case
from stages.authors.lift_config import lift_config_text
from stages.authors.lifter_keys import LIFTER_PREFIX, convert_lifter
from stages.authors.stand_in_weights import stand_in_checkpoint
from stages.lift.build import build_lifter, geometry_from_config
from stages.lift.settings import lift_settings
from stages.settings import PROJECT_ROOT
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"


def _written(tmp_path, converted, **kwargs) -> dict:
    path = tmp_path / "lift_config.py"
    path.write_text(lift_config_text(converted.settings, **kwargs))
    return lift_settings(load_config(path))


@pytest.mark.parametrize("variant", ["h36m_hrnet_w48", "3dhp_hrnet_w32"])
def test_config_builds_the_converted_model(tmp_path, variant):
    converted = convert_lifter(stand_in_checkpoint(FIXTURE, variant, prefix=LIFTER_PREFIX))
    cfg = _written(tmp_path, converted, header=["imported from a stand-in checkpoint"])
    model = build_lifter(cfg, geometry_from_config(cfg))
    model.load_state_dict(converted.state_dict)  # strict: the config's model is the converted one
    model.eval()
    case = lifter_case(FIXTURE, variant, joint_order=converted.settings.joint_order)
    with torch.no_grad():
        torch.testing.assert_close(model(case.pose2d, case.feats, case.ref_px),
                                   converted.build_model()(case.pose2d, case.feats, case.ref_px), rtol=0, atol=0)


def test_parity_options_at_the_authors_values(tmp_path):
    h36m = _written(tmp_path, convert_lifter(stand_in_checkpoint(FIXTURE, "h36m_hrnet_w32", prefix=LIFTER_PREFIX)))
    model = h36m["model"]
    assert (model["ref_convention"], model["sampling_padding"], model["deformable_norm_eps"]) == ("authors", "zeros", 1e-5)
    assert (model["context"], model["embed_dim"], model["depth"], model["levels"]) == ("deformable", 128, 4, [0, 1, 2, 3])
    assert (h36m["eval"]["reroot"], h36m["eval"]["flip_test"], h36m["train"]["amp"]) == (False, True, False)
    assert h36m["data"]["test_subjects"] == ["S9", "S11"]
    assert h36m["detector_levels"] == dict(input_size_wh=[192, 256], strides=[4, 8, 16, 32], channels=[32, 64, 128, 256])
    mpi = _written(tmp_path, convert_lifter(stand_in_checkpoint(FIXTURE, "3dhp_hrnet_w32", prefix=LIFTER_PREFIX)))
    assert (mpi["model"]["context"], mpi["model"]["embed_dim"]) == ("fusion", 64)
    # their run_3dhp.py: the predicted root set to zero, the other joints left; no flip test
    assert (mpi["eval"]["reroot"], mpi["eval"]["flip_test"]) == ("zero_root", False)
    assert mpi["data"]["test_subjects"] == ["TS1", "TS2", "TS3", "TS4", "TS5", "TS6"]


def test_bases_and_extra_sections(tmp_path):
    converted = convert_lifter(stand_in_checkpoint(FIXTURE, "h36m_hrnet_w32", prefix=LIFTER_PREFIX))
    base = PROJECT_ROOT / "configs" / "extract" / "h36m_hrnet_w32_cpn2d.py"
    detector = dict(config="mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py",
                    checkpoint_sha256="ab" * 32)
    cfg = _written(tmp_path, converted, bases=[str(base)], sections=dict(detector=detector, eval=dict(batch_size=64)))
    assert cfg["kp2d"]["source"] == "external"        # from the extract base
    assert cfg["detector"]["checkpoint_sha256"] == "ab" * 32
    assert (cfg["eval"]["batch_size"], cfg["eval"]["reroot"]) == (64, False)


def test_lift_checkpoint_is_read_as_capf_reads_its_own(tmp_path):
    from stages.infer.lifting import LiftCheckpoint

    converted = convert_lifter(stand_in_checkpoint(FIXTURE, "h36m_hrnet_w48", prefix=LIFTER_PREFIX))
    path = tmp_path / "lifter.pth"
    torch.save(converted.lift_checkpoint(source="a.pth"), path)
    loaded = LiftCheckpoint.load(path)  # weights_only loading: meta holds plain values only
    assert loaded.expected_levels() == [("0", 4, 48), ("1", 8, 96), ("2", 16, 192), ("3", 32, 384)]
    assert loaded.expected_input_size() == (192, 256) and loaded.meta["source"] == "a.pth"
    cfg = _written(tmp_path, converted)
    model = build_lifter(cfg, geometry_from_config(cfg))
    model.load_state_dict(loaded.state_dict)


def test_imported_3dhp_lifter_is_the_authors_3dhp_config_model(tmp_path):
    """`capf import` of the authors' 3DHP checkpoint and configs/capf/capf_hrnet32_3dhp_authors.py describe
    one model: the same architecture keys and the same tensors, shape for shape."""
    converted = convert_lifter(stand_in_checkpoint(FIXTURE, "3dhp_hrnet_w32", prefix=LIFTER_PREFIX))
    imported = lift_settings(_written(tmp_path, converted))
    ours = lift_settings(load_config(PROJECT_ROOT / "configs" / "capf" / "capf_hrnet32_3dhp_authors.py"))
    keys = ("type", "context", "embed_dim", "depth", "levels", "ref_convention", "sampling_padding", "mlp_ratio")
    assert {k: imported["model"][k] for k in keys} == {k: ours["model"][k] for k in keys}
    assert imported["eval"]["reroot"] == ours["eval"]["reroot"] == "zero_root"
    theirs = build_lifter(ours, geometry_from_config(ours)).state_dict()
    assert {k: tuple(v.shape) for k, v in converted.state_dict.items()} == {k: tuple(v.shape) for k, v in theirs.items()}
