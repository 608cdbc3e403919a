"""Parameters and FLOPs per frame against the paper (Table 3) and hand-derived formulas."""

import pytest

from stages.lift.cost import PAPER_FLOPS_PER_FRAME, count_cost, default_level_shapes
from stages.lift.model import ContextAwarePoseFormer


@pytest.fixture(scope="module")
def full_cost():
    return count_cost(ContextAwarePoseFormer(), level_shapes=[(32, 64, 48), (64, 32, 24),
                                                              (128, 16, 12), (256, 8, 6)])


def test_full_model_within_10_percent_of_paper(full_cost):
    assert full_cost["params"] == 14_094_147
    paper = PAPER_FLOPS_PER_FRAME["deformable"]
    assert abs(full_cost["flops_per_frame"] - paper) / paper < 0.10


def test_poseformer_step0_within_10_percent_of_paper():
    cost = count_cost(ContextAwarePoseFormer(context="none"))
    paper = PAPER_FLOPS_PER_FRAME["none"]
    assert abs(cost["flops_per_frame"] - paper) / paper < 0.10
    assert set(cost["breakdown"]) == {"coord_embed", "inter_joint", "head"}


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
