"""Context-Aware PoseFormer: sizes, shapes, pixel alignment of the sampler, init, optimisation."""

import math

import pytest
import torch

from stages.lift.deformable import DeformableContextLayer
from stages.lift.model import CONTEXT_MODES, ContextAwarePoseFormer, build_model, mpjpe_loss
from stages.lift.sampling import ref_px_to_grid, sample_joint_features
from stages.lift.transformer import DropPath

W32 = (32, 64, 128, 256)
W48 = (48, 96, 192, 384)
STRIDES = (4, 8, 16, 32)
INPUT_WH = (192, 256)
LEVEL_HW = [(256 // s, 192 // s) for s in STRIDES]  # (64, 48), (32, 24), (16, 12), (8, 6)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def small_model(**kw) -> ContextAwarePoseFormer:
    """Narrow and shallow, for speed; the structure is the full model's."""
    cfg = dict(embed_dim=16, depth=1, spatial_heads=4, fusion_heads=4, drop_path_rate=0.0)
    cfg.update(kw)
    return ContextAwarePoseFormer(**cfg)


def random_inputs(batch, channels, strides, input_wh=INPUT_WH, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    w, h = input_wh
    pose2d = torch.rand(batch, 17, 2, generator=g) * 2 - 1
    feats = [torch.randn(batch, c, h // s, w // s, generator=g).to(dtype) for c, s in zip(channels, strides)]
    ref_px = torch.rand(batch, 17, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])
    return pose2d, feats, ref_px


# -- exact sizes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("channels, expected", [
    (W32, 14_094_147),          # HRNet-W32 levels (authors' count)
    (W48, 14_155_587),          # HRNet-W48 levels
    ((256,) * 4, 14_233_411),   # CPN levels
])
def test_parameter_count_matches_authors(channels, expected):
    assert n_params(ContextAwarePoseFormer(level_channels=channels)) == expected


def test_level_subset_parameter_delta():
    # dropping levels 0-1 removes their 2 context tokens: the joint width shrinks 640 -> 384
    sub = ContextAwarePoseFormer(level_channels=(128, 256), level_strides=(16, 32))
    assert sub.joint_dim == 3 * 128
    assert n_params(sub) < n_params(ContextAwarePoseFormer())


# -- forward ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("context", CONTEXT_MODES)
def test_forward_shapes_every_context(context):
    model = small_model(context=context).eval()
    pose2d, feats, ref_px = random_inputs(3, W32, STRIDES, dtype=torch.float16)  # cache dtype
    out = model(pose2d, feats, ref_px)
    assert out.shape == (3, 17, 3) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_forward_level_subset_and_context_none_without_maps():
    sub = small_model(level_channels=(64, 256), level_strides=(8, 32)).eval()
    pose2d, feats, ref_px = random_inputs(2, (64, 256), (8, 32))
    assert sub(pose2d, feats, ref_px).shape == (2, 17, 3)
    with pytest.raises(ValueError):
        sub(pose2d, random_inputs(2, W32, STRIDES)[1], ref_px)  # 4 maps for a 2-level model
    none = small_model(context="none").eval()
    assert none(pose2d).shape == (2, 17, 3)
    assert none(pose2d, [], None).shape == (2, 17, 3)


def test_full_size_forward_and_context_changes_output():
    model = ContextAwarePoseFormer().eval()
    pose2d, feats, ref_px = random_inputs(2, W32, STRIDES, dtype=torch.float16)
    with torch.no_grad():
        out = model(pose2d, feats, ref_px)
        other = model(pose2d, [f * 2 for f in feats], ref_px)
    assert out.shape == (2, 17, 3)
    assert not torch.allclose(out, other)  # the maps do reach the output


def test_autocast_bf16_keeps_sampling_locations_float32():
    model = small_model().eval()
    pose2d, feats, ref_px = random_inputs(2, W32, STRIDES, dtype=torch.float16)
    layer = model.deformable.layers[0]
    grid = model.reference_grid(ref_px, LEVEL_HW)
    assert grid.dtype == torch.float32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        loc = layer.sampling_locations(torch.randn(2, 4, 17, 16).bfloat16(), grid)
        out = model(pose2d, feats, ref_px)
    assert loc.dtype == torch.float32
    assert out.shape == (2, 17, 3) and torch.isfinite(out.float()).all()


@pytest.mark.parametrize("context", ["concat", "fusion"])
def test_joint_feature_path_matches_map_path(context):
    """The cache's precomputed joint_feat must give the same output as sampling the maps."""
    model = small_model(context=context).eval()
    pose2d, feats, ref_px = random_inputs(2, W32, STRIDES)
    joint_feats = sample_joint_features(feats, ref_px, level_strides=STRIDES, input_size_wh=INPUT_WH)
    assert [tuple(f.shape) for f in joint_feats] == [(2, 17, c) for c in W32]
    with torch.no_grad():
        torch.testing.assert_close(model.forward_from_joint_feats(pose2d, joint_feats),
                                   model(pose2d, feats, ref_px))


# -- pixel alignment of the sampler ----------------------------------------------------------------
def _plant_cells(h, w):
    """Corners, an interior cell, and one next to the bottom edge: (u, v) cell indices."""
    return [(0, 0), (w - 1, h - 1), (w // 2, h // 3), (1, h - 2)]


def test_zero_offset_sampler_returns_planted_vector_mmpose():
    """A feature planted at cell (u, v) of a stride-s level is read back exactly at pixel (u s, v s)."""
    torch.manual_seed(0)
    channels = 4
    model = small_model(level_channels=(channels,) * 4, embed_dim=16, deformable_heads=4)
    layer: DeformableContextLayer = model.deformable.layers[0]
    with torch.no_grad():  # zero offsets, and a value projection that copies the C channels
        layer.sampling_offsets.bias.zero_()
        for proj in layer.value_proj:
            proj.weight.copy_(torch.eye(channels))
            proj.bias.zero_()
    for level, ((h, w), stride) in enumerate(zip(LEVEL_HW, STRIDES)):
        cells = _plant_cells(h, w)
        maps = [torch.zeros(1, channels, hh, ww) for hh, ww in LEVEL_HW]
        vectors = torch.randn(len(cells), channels) + 3
        for (u, v), vec in zip(cells, vectors):
            maps[level][0, :, v, u] = vec
        ref_px = torch.zeros(1, 17, 2)
        for k, (u, v) in enumerate(cells):
            ref_px[0, k] = torch.tensor([u * stride, v * stride], dtype=torch.float32)
        # initial context tokens (shared helper = the model's own sampling)
        joint = sample_joint_features(maps, ref_px, level_strides=STRIDES, input_size_wh=INPUT_WH)
        torch.testing.assert_close(joint[level][0, :len(cells)], vectors, rtol=0, atol=1e-5)
        # the deformable layer's reading at zero offsets, through the model's reference grid
        grid = model.reference_grid(ref_px, LEVEL_HW)
        query = torch.randn(1, 4, 17, 16)
        with torch.no_grad():
            out = layer.attend(query, grid, maps)  # (1, L, J, C): 4 heads x C/4 = 4 channels
        for head in range(4):
            torch.testing.assert_close(out[0, level, :len(cells), head * 4:(head + 1) * 4], vectors,
                                       rtol=0, atol=1e-5)


def test_sub_cell_positions_interpolate_bilinearly():
    """Between cells: a planted spike gives the bilinear weight; a linear ramp is reproduced exactly."""
    g = torch.Generator().manual_seed(1)
    for (h, w), stride in zip(LEVEL_HW, STRIDES):
        u, v = w // 2, h // 2
        vec = torch.tensor([1.0, -2.0, 5.0])
        spike = torch.zeros(1, 3, h, w)
        spike[0, :, v, u] = vec
        # pixel a quarter cell right and half a cell down of the spike: weight 0.75 * 0.5
        ref_px = torch.tensor([[[(u + 0.25) * stride, (v + 0.5) * stride]]])
        got = sample_joint_features([spike], ref_px, level_strides=[stride], input_size_wh=INPUT_WH)[0]
        torch.testing.assert_close(got[0, 0], 0.375 * vec)
        # ramp f(u, v) = a u + b v + d: sampling at pixel (x, y) must give a x/s + b y/s + d
        a, b, d = torch.randn(3, 2, generator=g)
        uu = torch.arange(w, dtype=torch.float32)[None, :]
        vv = torch.arange(h, dtype=torch.float32)[:, None]
        ramp = torch.stack([a[c] * uu + b[c] * vv + d[c] for c in range(2)])[None]
        ref_px = torch.rand(1, 17, 2, generator=g) * torch.tensor([(w - 1.0) * stride, (h - 1.0) * stride])
        got = sample_joint_features([ramp], ref_px, level_strides=[stride], input_size_wh=INPUT_WH)[0]
        cell = ref_px[0] / stride
        want = torch.stack([a[c] * cell[:, 0] + b[c] * cell[:, 1] + d[c] for c in range(2)], -1)
        torch.testing.assert_close(got[0], want, rtol=0, atol=1e-4)


def test_authors_convention_stretches_input_over_cell_spacings():
    """``ref_convention='authors'``: cell u = x (W_l - 1) / W_in, not x / s (their checkpoints)."""
    x_px, y_px = 100.0, 60.0
    ref_px = torch.tensor([[[x_px, y_px]]])
    grid_a = ref_px_to_grid(ref_px, level_hw=LEVEL_HW, level_strides=STRIDES, input_size_wh=INPUT_WH,
                            convention="authors")
    grid_m = ref_px_to_grid(ref_px, level_hw=LEVEL_HW, level_strides=STRIDES, input_size_wh=INPUT_WH)
    for level, ((h, w), stride) in enumerate(zip(LEVEL_HW, STRIDES)):
        ga, gm = grid_a[0, level, 0], grid_m[0, level, 0]
        torch.testing.assert_close(ga, torch.tensor([x_px / 96 - 1, y_px / 128 - 1]))
        u_a, v_a = (ga[0] + 1) / 2 * (w - 1), (ga[1] + 1) / 2 * (h - 1)
        assert float(u_a) == pytest.approx(x_px * (w - 1) / 192, rel=1e-5)
        assert float(v_a) == pytest.approx(y_px * (h - 1) / 256, rel=1e-5)
        u_m = (gm[0] + 1) / 2 * (w - 1)
        assert float(u_m) == pytest.approx(x_px / stride, rel=1e-5)
        assert abs(float(u_a - u_m)) > 1e-3  # the two conventions really differ


# -- initialisation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("heads, points", [(4, 4), (8, 3)])
def test_offset_init_directions_and_radii(heads, points):
    model = small_model(embed_dim=32, deformable_heads=heads, num_levels_sampling_points=points, depth=2)
    query = torch.randn(2, 4, 17, 32)
    ref = torch.rand(2, 4, 17, 2) * 2 - 1
    for layer in model.deformable.layers:
        assert torch.count_nonzero(layer.sampling_offsets.weight) == 0
        assert torch.count_nonzero(layer.attention_weights.weight) == 0
        assert torch.count_nonzero(layer.attention_weights.bias) == 0
        offsets = torch.tanh(layer.sampling_offsets.bias).view(heads, points, 2)
        for h in range(heads):
            angle = 2 * math.pi * h / heads
            for i in range(points):
                r = 0.01 * (i + 1)
                want = torch.tensor([r * math.cos(angle), r * math.sin(angle)])
                torch.testing.assert_close(offsets[h, i], want, rtol=0, atol=1e-7)
        # at init the sampling locations are the reference plus exactly these offsets, any query
        with torch.no_grad():
            loc = layer.sampling_locations(query, ref).view(2, 4, 17, heads, points, 2)
        torch.testing.assert_close(loc - ref[:, :, :, None, None], offsets.expand_as(loc), atol=1e-6, rtol=0)
    assert torch.count_nonzero(model.pos_embed) == 0
    assert model.pos_embed.shape == (5, 17, 32)  # unified (1 + L, J, C)
    assert torch.count_nonzero(small_model(context="none").pos_embed) == 0


def test_drop_path_rises_to_rate_and_drops_whole_samples():
    model = ContextAwarePoseFormer(embed_dim=16, depth=4, spatial_heads=4, fusion_heads=4)
    rates = [blk.drop_path.rate for blk in model.inter_joint.blocks]
    assert rates == pytest.approx([0.0, 0.2 / 3, 0.4 / 3, 0.2])
    assert [l.drop_path.rate for l in model.deformable.layers] == pytest.approx(rates)
    block = model.fusion.blocks[0].norm1
    assert block.eps == 1e-6
    dp = DropPath(0.5)
    x = torch.ones(400, 3, 2)
    torch.manual_seed(0)
    y = dp.train()(x)
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()  # a sample is dropped or kept as a whole
    assert 0.35 < (per_sample[:, 0] == 0).float().mean() < 0.65
    assert torch.equal(dp.eval()(x), x)


# -- optimisation --------------------------------------------------------------------------------
def test_param_groups_put_offsets_in_reduced_lr_group():
    model = small_model(depth=3)
    groups = model.param_groups(base_lr=1e-3, offset_lr_mult=0.1)
    by_name = {g["name"]: g for g in groups}
    assert by_name["base"]["lr"] == 1e-3 and by_name["sampling_offsets"]["lr"] == pytest.approx(1e-4)
    offset_ids = {id(p) for layer in model.deformable.layers for p in layer.sampling_offsets.parameters()}
    assert {id(p) for p in by_name["sampling_offsets"]["params"]} == offset_ids
    assert len(offset_ids) == 2 * 3
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert len(all_ids) == len(set(all_ids)) == len(list(model.parameters()))
    torch.optim.AdamW(groups)  # accepted as is
    fusion_groups = small_model(context="fusion").param_groups(1e-3, 0.1)
    assert [g["name"] for g in fusion_groups] == ["base"]


def test_overfits_a_fixed_batch():
    """A few dozen AdamW steps on 8 fixed frames fit them far better than their mean pose."""
    torch.manual_seed(0)
    model = small_model(level_channels=(8, 16), level_strides=(4, 8), input_size_wh=(32, 32))
    pose2d, feats, ref_px = random_inputs(8, (8, 16), (4, 8), input_wh=(32, 32), seed=1)
    target = torch.randn(8, 17, 3, generator=torch.Generator().manual_seed(2)) * 0.2
    mean_pose_loss = mpjpe_loss(target.mean(0, keepdim=True).expand_as(target), target).item()
    opt = torch.optim.AdamW(model.param_groups(3e-3, 1.0), weight_decay=0.0)
    losses = []
    for _ in range(60):
        loss = mpjpe_loss(model(pose2d, feats, ref_px), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert losses[-1] < 0.5 * mean_pose_loss
    # the offsets learn too (they receive gradient through grid_sample's coordinates)
    assert torch.count_nonzero(model.deformable.layers[0].sampling_offsets.weight) > 0


# -- helpers ---------------------------------------------------------------------------------------
def test_mpjpe_hand_value():
    pred = torch.zeros(2, 17, 3)
    target = torch.zeros(2, 17, 3)
    target[0, 0] = torch.tensor([3.0, 4.0, 0.0])   # distance 5
    target[1, 5] = torch.tensor([0.0, 0.0, -34.0])  # distance 34
    assert mpjpe_loss(pred, target).item() == pytest.approx((5 + 34) / 34)


def test_build_model_from_plain_dict():
    cfg = dict(type="ContextAwarePoseFormer", level_channels=[48, 96, 192, 384],
               level_strides=[4, 8, 16, 32], context="deformable")
    model = build_model(cfg)
    assert model.level_channels == W48 and n_params(model) == 14_155_587
    assert cfg["level_channels"] == [48, 96, 192, 384]  # the config is not mutated
    with pytest.raises(ValueError):
        build_model(dict(context="temporal"))
    with pytest.raises(ValueError):
        build_model(dict(type="PoseFormerV2"))
