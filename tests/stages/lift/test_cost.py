"""Parameters and FLOPs per frame against the paper (Table 3) and hand-derived formulas."""

import pytest

from stages.lift.cost import PAPER_FLOPS_PER_FRAME, count_cost, default_level_shapes
from stages.lift.model import ContextAwarePoseFormer


# The counter's exact integers (torch's FlopCounterMode + grid_sample and CPU attention counted here):
# FLOPs depend only on the shapes, so any change to them is a change to the model. README: 617.7 M
# and 448.7 M (paper Table 3: 609.9 M and 446.0 M).
FULL_W32_PARAMS = 14_094_147  # the authors' count for HRNet-W32 levels
FULL_W32_FLOPS = 617_705_472
FULL_W32_BREAKDOWN = {"coord_embed": 8_704, "feat_embed": 2_088_960, "deformable": 76_873_728,
                      "fusion": 89_999_360, "inter_joint": 448_604_160, "head": 65_280, "(top level)": 65_280}
STEP0_PARAMS = 13_151_363
STEP0_FLOPS = 448_712_960
STEP0_BREAKDOWN = {"coord_embed": 43_520, "inter_joint": 448_604_160, "head": 65_280}
W32_LEVEL_SHAPES = [(32, 64, 48), (64, 32, 24), (128, 16, 12), (256, 8, 6)]


@pytest.fixture(scope="module")
def full_cost():
    return count_cost(ContextAwarePoseFormer(), level_shapes=W32_LEVEL_SHAPES)


def test_full_model_flops_are_pinned_per_module(full_cost):
    assert full_cost["params"] == FULL_W32_PARAMS
    assert full_cost["breakdown"] == FULL_W32_BREAKDOWN
    assert full_cost["flops_per_frame"] == FULL_W32_FLOPS == sum(FULL_W32_BREAKDOWN.values())
    assert round(FULL_W32_FLOPS / PAPER_FLOPS_PER_FRAME["deformable"] - 1, 3) == 0.013  # README: +1.3 %


def test_poseformer_step0_flops_are_pinned_per_module():
    for level_shapes in (W32_LEVEL_SHAPES, None):  # step 0 reads no maps: their shapes cannot matter
        cost = count_cost(ContextAwarePoseFormer(context="none"), level_shapes=level_shapes)
        assert cost["params"] == STEP0_PARAMS
        assert cost["breakdown"] == STEP0_BREAKDOWN
        assert cost["flops_per_frame"] == STEP0_FLOPS == sum(STEP0_BREAKDOWN.values())
    assert f"{STEP0_FLOPS / 1e6:.1f}" == "448.7" and f"{FULL_W32_FLOPS / 1e6:.1f}" == "617.7"


def test_breakdown_adds_up_and_matches_hand_formulas(full_cost):
    bd = full_cost["breakdown"]
    assert sum(bd.values()) == full_cost["flops_per_frame"]
    j, e, depth = 17, 640, 4
    # inter-joint block: qkv, proj, fc1, fc2 on 17 tokens + q k^T and attn v (2 FLOPs per MAC)
    linear = j * (e * 3 * e + e * e + 2 * e * 2 * e)
    attention = 2 * j * j * e
    assert bd["inter_joint"] == depth * 2 * (linear + attention)
    assert bd["head"] == 2 * j * e * 3
    # grid_sample, counted by us: 8 FLOPs per channel per point; one point per joint for the
    # initial tokens, 4 heads x 4 points per joint, level and deformable layer
    channels = 32 + 64 + 128 + 256
    assert full_cost["by_op"]["grid_sampler_2d"] == 8 * j * channels * (1 + depth * 4 * 4)
    assert bd["(top level)"] == 8 * j * channels  # the initial sampling, run by the model itself


def test_level_shapes_default_and_mode_restored():
    model = ContextAwarePoseFormer(level_channels=(128, 256), level_strides=(16, 32),
                                   embed_dim=32, depth=1)
    assert default_level_shapes(model) == [(128, 16, 12), (256, 8, 6)]
    model.train()
    cost = count_cost(model)
    assert model.training
    # smaller maps than the default only change the (free) interpolation setup, not the FLOPs
    assert count_cost(model, level_shapes=[(128, 4, 4), (256, 2, 2)])["flops_per_frame"] == \
        cost["flops_per_frame"]
