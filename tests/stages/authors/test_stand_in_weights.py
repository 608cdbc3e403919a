"""CAPF's implementation of the stand-in weight rule gives the parity fixture's weights exactly."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from stages.authors.stand_in_weights import (StandInError, apply_bn_stats, official_hrnet_from_authors,
                                             read_manifest, stand_in_checkpoint, state_dict_from_manifest,
                                             weight_for)
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"
REFERENCE = SHARED_DATA.parent / "parity" / "authors_weights.py"
# one name per branch of the rule, spelled as the authors' checkpoints spell them
NAMES = {
    "module.backbone.bn1.num_batches_tracked": (),
    "module.backbone.layer1.0.bn1.running_var": (64,),
    "module.backbone.layer1.0.bn1.running_mean": (64,),
    "module.volume_net.head.1.bias": (3,),
    "module.volume_net.res_blocks.0.norm1.weight": (128,),
    "module.volume_net.Spatial_pos_embed": (1, 5, 17, 128),
    "module.volume_net.context_blocks.0.embed_proj.3.weight": (32, 256),
    "module.backbone.conv1.weight": (64, 3, 3, 3),
}


@pytest.fixture(scope="module")
def reference():
    """The fixture's own reference implementation, loaded from its file (an independent check)."""
    if not REFERENCE.is_file():
        pytest.fail(f"{REFERENCE}: the shared parity fixture is missing")
    spec = importlib.util.spec_from_file_location("authors_weights_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_branch_of_the_rule_matches_the_reference(reference):
    for seed in (0, 7):
        for name, shape in NAMES.items():
            ours, theirs = weight_for(name, shape, seed), reference.weight_for(name, shape, seed)
            assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
            np.testing.assert_array_equal(ours, theirs, err_msg=name)
    # the name seeds the draw: the same shape under another name is another tensor
    assert not np.array_equal(weight_for("a.weight", (4, 4), 0), weight_for("b.weight", (4, 4), 0))


def test_official_hrnet_file_matches_the_reference(reference):
    authors = state_dict_from_manifest(read_manifest(FIXTURE)["variants"]["h36m_hrnet_w32"]["authors_checkpoint"], 0)
    ours, theirs = official_hrnet_from_authors(authors, 0), reference.official_hrnet_from_authors(authors, 0)
    assert sorted(ours) == sorted(theirs)
    assert ours["final_layer.weight"].shape == (17, 32, 1, 1)
    for name in ("final_layer.weight", "final_layer.bias", "stage4.0.fuse_layers.1.0.0.1.running_var"):
        np.testing.assert_array_equal(ours[name], theirs[name])
    official = read_manifest(FIXTURE)["variants"]["h36m_hrnet_w32"]["official_hrnet_checkpoint"]
    assert {k: tuple(v.shape) for k, v in ours.items()} == {k: tuple(v) for k, v in official.items()}


def test_checkpoint_carries_the_calibrated_batchnorm_statistics():
    state = stand_in_checkpoint(FIXTURE, "3dhp_hrnet_w32")
    with np.load(FIXTURE / "3dhp_hrnet_w32_bn_stats.npz") as stats:
        name = "module.backbone.stage4.2.fuse_layers.0.3.1.running_var"
        np.testing.assert_array_equal(state[name].numpy(), stats[name])
        assert not np.array_equal(stats[name], weight_for(name, stats[name].shape, 0))  # not the rule's
    assert all(k.startswith("module.") for k in state)
    lifter = stand_in_checkpoint(FIXTURE, "3dhp_hrnet_w32", prefix="module.volume_net.")
    assert sorted(lifter) == sorted(k for k in state if k.startswith("module.volume_net."))


def test_statistics_of_another_checkpoint_are_refused():
    state = {"bn.running_mean": np.zeros(4, np.float32), "bn.running_var": np.ones(4, np.float32)}
    with pytest.raises(StandInError, match="'bn.running_var' have shape"):
        apply_bn_stats(state, {"bn.running_var": np.ones(8, np.float32)})
    with pytest.raises(StandInError, match="'other.running_mean', which the checkpoint does not have"):
        apply_bn_stats(state, {"other.running_mean": np.zeros(4, np.float32)})
    with pytest.raises(StandInError, match="no variant 'h36m_resnet'"):
        stand_in_checkpoint(FIXTURE, "h36m_resnet")
