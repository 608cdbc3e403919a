"""The authors' lifter mapped onto CAPF's model computes what their code computed.

The shared parity fixture holds, for four real Human3.6M crops, the features the authors' lifter
read and its output, with stand-in weights rebuilt here from the manifest. CAPF's model, built from
the converted weights and fed CAPF's own 2D normalisation and reference points, must give that
output.

Tolerances are measured, not hoped for. The fusion-only 3DHP model agrees to 9e-7 of the output's
mean magnitude. The Human3.6M models agree to 1.0e-4 (W32) and 1.2e-4 (W48), and that is the floor
of fp32 here, not a mapping error: with these random weights the four deformable layers amplify
rounding about ten-thousandfold (one ulp of noise in their tanh alone moves the output by 8e-4,
torch's scalar kernels instead of AVX2 by 4e-3, the same model in float64 by 1.8e-2), and an
op-by-op rerun of the authors' forward on this machine lands at the same 1.0e-4 from the fixture
and 1e-6 from CAPF. A wrong mapping moves the output by more than 1e-2 (redrawing one of 25 sampled
lifter tensors: 1.4e-2 at least; the negative controls here: 0.46 and 0.11).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from stages.authors.fixture import lifter_case, relative_error
from stages.authors.lifter_keys import (LIFTER_PREFIX, ConvertedLifter, LifterKeyError, authors_name, capf_name,
                                        convert_lifter)
from stages.authors.stand_in_weights import read_manifest, stand_in_checkpoint, weight_for
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"
VARIANTS = ("h36m_hrnet_w32", "h36m_hrnet_w48", "3dhp_hrnet_w32")
TOLERANCE = {"h36m_hrnet_w32": 5e-4, "h36m_hrnet_w48": 5e-4, "3dhp_hrnet_w32": 1e-5}
FAR = 1e-2  # a wrong mapping is at least this far off (measured: 3e-2 and more)


@pytest.fixture(scope="module")
def fixture_dir() -> Path:
    if not (FIXTURE / "manifest.json").is_file():
        pytest.fail(f"{FIXTURE}: the shared parity fixture is missing")
    return FIXTURE


@pytest.fixture(scope="module")
def lifter_states(fixture_dir) -> dict[str, dict[str, torch.Tensor]]:
    """Each variant's stand-in lifter tensors, under the authors' names."""
    return {v: stand_in_checkpoint(fixture_dir, v, prefix=LIFTER_PREFIX) for v in VARIANTS}


def predict(converted: ConvertedLifter, fixture_dir: Path, variant: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(CAPF's prediction, the authors') for the fixture's crops, both in H36M-17 order."""
    case = lifter_case(fixture_dir, variant, joint_order=converted.settings.joint_order)
    with torch.no_grad():
        return converted.build_model()(case.pose2d, case.feats, case.ref_px), case.pred


@pytest.mark.parametrize("variant", VARIANTS)
def test_converted_lifter_reproduces_the_authors_output(variant, fixture_dir, lifter_states):
    converted = convert_lifter(lifter_states[variant])
    got, want = predict(converted, fixture_dir, variant)
    assert relative_error(got, want) < TOLERANCE[variant]


def test_settings_read_from_the_weights(lifter_states):
    w32, w48, mpi = (convert_lifter(lifter_states[v]).settings for v in VARIANTS)
    assert (w32.level_channels, w32.embed_dim, w32.context, w32.depth, w32.joint_order) == \
        ((32, 64, 128, 256), 128, "deformable", 4, "h36m17")
    assert (w48.level_channels, w48.embed_dim, w48.context) == ((48, 96, 192, 384), 128, "deformable")
    assert (mpi.level_channels, mpi.embed_dim, mpi.context, mpi.depth, mpi.joint_order) == \
        ((32, 64, 128, 256), 64, "fusion", 4, "mpi3dhp17")
    assert (w32.deformable_heads, w32.num_levels_sampling_points, w32.mlp_ratio) == (4, 4, 2.0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_converted_model_has_the_manifest_parameter_count(variant, fixture_dir, lifter_states):
    shapes = read_manifest(fixture_dir)["variants"][variant]["authors_checkpoint"]
    manifest_count = sum(int(np.prod(s)) for name, s in shapes.items() if name.startswith(LIFTER_PREFIX))
    model = convert_lifter(lifter_states[variant]).build_model()
    assert sum(p.numel() for p in model.parameters()) == manifest_count
    assert manifest_count == {"h36m_hrnet_w32": 14_094_147, "h36m_hrnet_w48": 14_155_587,
                              "3dhp_hrnet_w32": 3_462_979}[variant]


def test_full_checkpoint_leaves_the_backbone_unused(fixture_dir):
    state = stand_in_checkpoint(fixture_dir, "3dhp_hrnet_w32")
    converted = convert_lifter(state)
    assert set(converted.unused) == {k for k in state if not k.startswith(LIFTER_PREFIX)}
    assert all(k.startswith("module.backbone.") for k in converted.unused)
    assert set(converted.key_map) == {k for k in state if k.startswith(LIFTER_PREFIX)}
    assert converted.key_map[LIFTER_PREFIX + "res_blocks.2.attn.qkv.weight"] == "fusion.blocks.2.attn.qkv.weight"


def test_key_map_is_a_bijection_onto_capf_names(lifter_states):
    converted = convert_lifter(lifter_states["h36m_hrnet_w32"])
    assert sorted(converted.key_map.values()) == sorted(converted.state_dict)
    for source, target in converted.key_map.items():
        assert LIFTER_PREFIX + authors_name(target) == source
    assert converted.key_map[LIFTER_PREFIX + "context_blocks.1.embed_proj.3.weight"] == \
        "deformable.layers.1.value_proj.3.weight"
    assert converted.key_map[LIFTER_PREFIX + "Spatial_pos_embed"] == "pos_embed"
    assert capf_name("context_blocks.0.output_proj.weight") is None


# --------------------------------------------------------------------------- negative controls

def test_one_redrawn_tensor_fails_by_far(fixture_dir, lifter_states):
    state = dict(lifter_states["h36m_hrnet_w32"])
    name = LIFTER_PREFIX + "joint_blocks.3.mlp.fc2.weight"  # the last block: the least leverage
    state[name] = torch.from_numpy(weight_for(name, tuple(state[name].shape), seed=1))
    got, want = predict(convert_lifter(state), fixture_dir, "h36m_hrnet_w32")
    assert relative_error(got, want) > FAR


def test_3dhp_without_the_joint_permutation_fails_by_far(fixture_dir, lifter_states):
    wrong = convert_lifter(lifter_states["3dhp_hrnet_w32"], joint_order="h36m17")  # embedding left in 3DHP order
    case = lifter_case(fixture_dir, "3dhp_hrnet_w32", joint_order="mpi3dhp17")
    with torch.no_grad():
        got = wrong.build_model()(case.pose2d, case.feats, case.ref_px)
    assert relative_error(got, case.pred) > FAR


def test_3dhp_model_is_equivariant_to_the_joint_reordering(fixture_dir, lifter_states):
    """Fed the same joints in 3DHP order, the unpermuted model gives the authors' rows back in their
    order; the permuted one, fed H36M order, gives them in H36M order: the same numbers."""
    from stages.lift.joints import h36m17_to_mpi3dhp17

    case = lifter_case(fixture_dir, "3dhp_hrnet_w32", joint_order="mpi3dhp17")
    own_order = convert_lifter(lifter_states["3dhp_hrnet_w32"], joint_order="h36m17").build_model()
    with torch.no_grad():
        got = own_order(h36m17_to_mpi3dhp17(case.pose2d), case.feats, h36m17_to_mpi3dhp17(case.ref_px))
    assert relative_error(got, h36m17_to_mpi3dhp17(case.pred)) < TOLERANCE["3dhp_hrnet_w32"]


# --------------------------------------------------------------------------- refused state dicts

def _refused(state) -> str:
    with pytest.raises(LifterKeyError) as error:
        convert_lifter(state)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_missing_key_is_named(lifter_states):
    state = dict(lifter_states["h36m_hrnet_w32"])
    del state[LIFTER_PREFIX + "context_blocks.2.sampling_offsets.bias"]
    assert "missing" in (m := _refused(state)) and "module.volume_net.context_blocks.2.sampling_offsets.bias" in m


def test_unexpected_key_is_named(lifter_states):
    state = dict(lifter_states["h36m_hrnet_w32"])
    state[LIFTER_PREFIX + "context_blocks.0.output_proj.weight"] = torch.zeros(128, 128)
    assert "unexpected" in (m := _refused(state)) and "module.volume_net.context_blocks.0.output_proj.weight" in m
    state = dict(lifter_states["h36m_hrnet_w32"])
    state[LIFTER_PREFIX + "feat_embed.4.weight"] = torch.zeros(128, 512)  # a fifth level without its embedding
    assert "module.volume_net.feat_embed.4.weight" in _refused(state)


def test_shape_mismatch_is_named(lifter_states):
    state = dict(lifter_states["h36m_hrnet_w32"])
    name = LIFTER_PREFIX + "context_blocks.0.embed_proj.1.weight"
    state[name] = lifter_states["h36m_hrnet_w48"][name]  # a W48 value projection in a W32 lifter
    assert "shape mismatch" in (m := _refused(state)) and name in m and "(32, 96)" in m


def test_unequal_depths_and_foreign_dicts_are_refused(lifter_states):
    state = {k: v for k, v in lifter_states["3dhp_hrnet_w32"].items() if ".joint_blocks.3." not in k}
    assert "different depths" in _refused(state)
    assert "not an authors' CA-PF checkpoint" in _refused({"backbone.conv1.weight": torch.zeros(1)})
    assert "missing keys module.volume_net.coord_embed.weight" in _refused(
        {k: v for k, v in lifter_states["3dhp_hrnet_w32"].items() if "coord_embed" not in k})
