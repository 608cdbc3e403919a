"""Parity options of stage two (README "Parity options"): each defaults to CAPF's choice, takes the
authors' value, and does what its comment in configs/lift/capf_base.py says."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine import Config

from stages.lift.evaluate import compute_metrics
from stages.lift.model import ContextAwarePoseFormer, mpjpe_loss
from stages.lift.settings import lift_settings
from tests.helpers import PROJECT_ROOT

STRIDES = (4, 8, 16, 32)
CHANNELS = (4, 4, 4, 4)
INPUT_WH = (192, 256)


def small_model(**kw) -> ContextAwarePoseFormer:
    cfg = dict(level_channels=CHANNELS, level_strides=STRIDES, input_size_wh=INPUT_WH, embed_dim=16,
               depth=1, spatial_heads=4, fusion_heads=4, drop_path_rate=0.0)
    return ContextAwarePoseFormer(**{**cfg, **kw})


def initial_samples(model: ContextAwarePoseFormer, feats, ref_px) -> list[torch.Tensor]:
    """What the model sampled at the joints for its initial context tokens: the inputs of
    ``feat_embed[l]``, L x ``(B, J, C_l)``."""
    seen: list[torch.Tensor] = []
    hooks = [embed.register_forward_hook(lambda _m, args, _out: seen.append(args[0].detach()))
             for embed in model.feat_embed]
    try:
        with torch.no_grad():
            model(torch.zeros(ref_px.shape[0], 17, 2), feats, ref_px)
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def ramp_maps(batch: int = 1) -> list[torch.Tensor]:
    """Maps whose value at cell (u, v) is u in every channel: a sample reads off the cell it hit."""
    w, h = INPUT_WH
    return [torch.arange(w // s, dtype=torch.float32).expand(batch, c, h // s, w // s).clone()
            for c, s in zip(CHANNELS, STRIDES)]


def load(path: str) -> dict:
    return lift_settings(Config.fromfile(str(PROJECT_ROOT / path)).to_dict())


# -- model.ref_convention ----------------------------------------------------------------------------
def test_ref_convention_moves_the_cell_the_initial_tokens_are_read_from():
    """mmpose reads level l at cell u = x / s_l; the authors at u = x (W_l - 1) / W_in."""
    x_px = 100.0
    ref_px = torch.full((1, 17, 2), 60.0)
    ref_px[..., 0] = x_px
    for convention in ("mmpose", "authors"):
        model = small_model(ref_convention=convention).eval()
        got = [float(s[0, 0, 0]) for s in initial_samples(model, ramp_maps(), ref_px)]
        for u, stride in zip(got, STRIDES):
            w_l = INPUT_WH[0] // stride
            want = x_px / stride if convention == "mmpose" else x_px * (w_l - 1) / INPUT_WH[0]
            assert u == pytest.approx(want, abs=1e-4), (convention, stride)
    assert 100.0 / 4 != pytest.approx(100.0 * 47 / 192, abs=0.1)  # the two really differ at stride 4


# -- model.sampling_padding --------------------------------------------------------------------------
def test_sampling_padding_decides_what_a_joint_outside_the_crop_reads():
    """A joint 20 px left of the crop: border repeats the edge cell, zeros reads (mostly) nothing."""
    w, h = INPUT_WH
    feats = [torch.ones(1, c, h // s, w // s) for c, s in zip(CHANNELS, STRIDES)]
    ref_px = torch.full((1, 17, 2), 100.0)
    ref_px[0, 0, 0] = -20.0                       # joint 0 outside; the others inside
    border = initial_samples(small_model().eval(), feats, ref_px)
    zeros = initial_samples(small_model(sampling_padding="zeros").eval(), feats, ref_px)
    for level, stride in enumerate(STRIDES):
        torch.testing.assert_close(border[level][0, 0], torch.ones(CHANNELS[level]))
        # zero padding: bilinear weight on the (virtual) zero cells = how far outside, in cells
        inside_weight = max(0.0, 1.0 - 20.0 / stride)
        torch.testing.assert_close(zeros[level][0, 0], torch.full((CHANNELS[level],), inside_weight))
        torch.testing.assert_close(zeros[level][0, 1:], border[level][0, 1:])  # inside: no difference
    assert small_model().sampling_padding == "border"
    with pytest.raises(ValueError, match="sampling_padding"):
        small_model(sampling_padding="reflection")


# -- model.deformable_norm_eps -----------------------------------------------------------------------
def test_deformable_norm_eps_reaches_only_the_deformable_layer_norms():
    default, authors = small_model(), small_model(deformable_norm_eps=1e-5)
    deformable_norms = [m for m in authors.deformable.modules() if isinstance(m, torch.nn.LayerNorm)]

    def other_eps(model):
        return [m.eps for name, m in model.named_modules()
                if isinstance(m, torch.nn.LayerNorm) and not name.startswith("deformable.")]

    assert deformable_norms and other_eps(authors)
    assert {m.eps for m in deformable_norms} == {1e-5}
    assert {m.eps for m in default.deformable.modules() if isinstance(m, torch.nn.LayerNorm)} == {1e-6}
    assert other_eps(authors) == other_eps(default)   # the transformers' and the head's norms untouched
    # same parameters: a checkpoint trained with one eps loads into the other
    assert default.state_dict().keys() == authors.state_dict().keys()
    # and the eps is used: on tokens of tiny variance the two layers normalise differently
    x = torch.randn(2, 16) * 1e-3
    assert not torch.allclose(deformable_norms[0](x), torch.nn.LayerNorm(16, eps=1e-6)(x), atol=1e-3)


# -- fp32 islands under autocast ---------------------------------------------------------------------
def test_coord_embed_head_and_loss_run_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model = small_model().eval()
    w, h = INPUT_WH
    feats = [torch.randn(2, c, h // s, w // s) for c, s in zip(CHANNELS, STRIDES)]
    pose2d, ref_px = torch.rand(2, 17, 2) * 2 - 1, torch.rand(2, 17, 2) * 100
    dtypes: dict[str, torch.dtype] = {}

    def record(name):
        def hook(_module, _args, out) -> None:
            dtypes.setdefault(name, out.dtype)
        return hook

    model.coord_embed.register_forward_hook(record("coord_embed"))
    model.head.register_forward_hook(record("head"))
    inner = next(m for m in model.inter_joint.modules() if isinstance(m, torch.nn.Linear))
    inner.register_forward_hook(record("inter_joint_linear"))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(pose2d, feats, ref_px)
        loss = mpjpe_loss(pred.bfloat16(), torch.zeros(2, 17, 3, dtype=torch.bfloat16))
    assert dtypes == {"coord_embed": torch.float32, "head": torch.float32, "inter_joint_linear": torch.bfloat16}
    assert pred.dtype == torch.float32 and loss.dtype == torch.float32
    # the loss is the fp32 computation of its (bf16) inputs, not a bf16 norm
    want = torch.linalg.vector_norm(pred.bfloat16().float(), dim=-1).mean()
    assert float(loss) == pytest.approx(float(want), rel=1e-6)


# -- eval.reroot -------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, dataset_type", [
    ({"action": np.array(["Walking 1"] * 6), "video": np.array(["v"] * 6), "frame": np.arange(6)}, "h36m"),
    ({}, "images"),
])
def test_reroot_false_scores_the_predicted_pelvis_offset(labels, dataset_type):
    """A prediction that is right up to a 30-40-0 mm shift: re-rooted it scores 0 mm; scored raw
    against the root-relative ground truth (the authors' MPJPE) every joint is 50 mm off."""
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (6, 17, 3)) + np.array([0.0, 0.0, 4000.0])   # absolute camera frame
    gt_rel = gt - gt[:, :1]
    pred = gt_rel + np.array([30.0, 40.0, 0.0])
    rerooted = compute_metrics(pred, gt, labels, dataset_type)
    raw = compute_metrics(pred, gt, labels, dataset_type, reroot=False)
    assert rerooted["mpjpe"] == pytest.approx(0.0, abs=1e-9)
    assert raw["mpjpe"] == pytest.approx(50.0, rel=1e-9)
    assert raw["p_mpjpe"] == pytest.approx(0.0, abs=1e-6)       # Procrustes removes a shift anyway
    if "per_video" in raw:
        assert raw["per_video"]["v"]["mpjpe"] == pytest.approx(50.0, rel=1e-9)


# -- configs -----------------------------------------------------------------------------------------
def test_the_base_trains_the_released_recipe_and_paper_text_is_named():
    base, paper = load("configs/lift/capf_base.py"), load("configs/lift/capf_paper_text.py")
    assert {k: base["train"][k] for k in ("lr", "offset_lr_mult", "weight_decay")} == \
        {"lr": 6.4e-4, "offset_lr_mult": 1.0, "weight_decay": 0.1}
    assert {k: paper["train"][k] for k in ("lr", "offset_lr_mult", "weight_decay")} == \
        {"lr": 6.4e-3, "offset_lr_mult": 0.1, "weight_decay": 0.1}
    assert load("configs/capf/capf_hrnet32_h36m_paper_text.py")["train"]["lr"] == 6.4e-3
    assert load("configs/capf/capf_hrnet32_h36m_released.py")["train"]["lr"] == 6.4e-4
    # parity defaults are CAPF's choices
    assert (base["model"]["ref_convention"], base["model"]["sampling_padding"],
            base["model"]["deformable_norm_eps"], base["eval"]["reroot"]) == ("mmpose", "border", 1e-6, "auto")


def test_demo_released_recipe_is_what_the_bug_does_to_the_demo_recipe():
    paper, released = load("configs/demo/recipe_paper_text.py"), load("configs/demo/recipe_released.py")
    assert paper == load("configs/demo/step3_full.py")
    assert paper["train"]["offset_lr_mult"] == 0.1
    assert released["train"]["lr"] == pytest.approx(paper["train"]["lr"] / 10)
    assert (released["train"]["offset_lr_mult"], released["train"]["weight_decay"]) == (1.0, 0.1)
    rest = lambda cfg: {**cfg, "train": {k: v for k, v in cfg["train"].items()  # noqa: E731
                                         if k not in ("lr", "offset_lr_mult", "weight_decay")}}
    assert rest(released) == rest(paper)


@pytest.mark.parametrize("name, section, key, value", [
    ("parity_ref_authors", "model", "ref_convention", "authors"),
    ("parity_zero_padding", "model", "sampling_padding", "zeros"),
    ("parity_norm_eps", "model", "deformable_norm_eps", 1e-5),
    ("parity_reroot", "eval", "reroot", False),
    ("parity_crop", "dataset", "crop", "authors"),       # a store of its own: the boxes are in its key
])
def test_each_demo_parity_config_changes_one_setting_of_step3(name, section, key, value):
    step3, variant = load("configs/demo/step3_full.py"), load(f"configs/demo/{name}.py")
    assert variant[section][key] == value != step3[section][key]
    variant[section] = {**variant[section], key: step3[section][key]}
    assert variant == step3


def test_authors_config_sets_every_authors_value():
    cfg = load("configs/capf/capf_hrnet32_h36m_authors.py")
    assert cfg["dataset"]["crop"] == "authors"
    assert (cfg["model"]["ref_convention"], cfg["model"]["sampling_padding"],
            cfg["model"]["deformable_norm_eps"]) == ("authors", "zeros", 1e-5)
    assert cfg["eval"]["reroot"] is False and cfg["train"]["amp"] is False
    assert (cfg["train"]["lr"], cfg["train"]["offset_lr_mult"], cfg["train"]["weight_decay"]) == (6.4e-4, 1.0, 0.1)
    assert cfg["kp2d"]["source"] == "external"      # their numbers: CPN 2D input
    assert cfg["detector"]["hrnet_levels"] == "stage4_branch_outputs"  # what their lifter read


def test_evaluate_passes_reroot_to_the_metrics_and_records_it(tmp_path):
    """Through the one evaluation (training's validation and `capf eval` call it with eval.reroot):
    a model whose head puts the pelvis off the origin scores worse without re-rooting."""
    from stages.lift.build import build_lifter, geometry_from_store
    from stages.lift.dataset import CacheBatchDataset, select_frames
    from stages.lift.evaluate import evaluate
    from tests.stages.lift.lift_stores import make_store, tiny_config

    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)
    cfg = tiny_config()
    geometry = geometry_from_store(cfg, store)
    torch.manual_seed(0)
    model = build_lifter(cfg, geometry).eval()
    with torch.no_grad():
        model.head[1].bias.copy_(torch.tensor([0.3, -0.1, 0.2]))   # every joint, the pelvis too, shifted
    dataset = CacheBatchDataset(store.path, select_frames(store, ["S9"]), geometry.names)
    cpu = torch.device("cpu")
    results = {reroot: evaluate(model, dataset, device=cpu, batch_size=8, workers=0, flip_test=False,
                                reroot=reroot).metrics for reroot in (True, False)}
    assert results[True]["reroot"] is True and results[False]["reroot"] is False
    assert results[False]["mpjpe"] > results[True]["mpjpe"] + 100.0    # a ~370 mm shift, mostly not undone
    assert results[False]["p_mpjpe"] == pytest.approx(results[True]["p_mpjpe"], rel=1e-4)


@pytest.mark.slow
def test_training_validates_and_reports_with_the_configs_reroot(tmp_path):
    """`eval.reroot=False` reaches training's validation and the final report (train.py passes it)."""
    import json

    from stages.lift.train import TrainRequest, train
    from tests.stages.lift.lift_stores import make_store, tiny_config

    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)
    cfg = tiny_config(train=dict(epochs=1), eval=dict(reroot=False, flip_test=False))
    result = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "runs", progress=False))
    assert json.loads((result.run_dir / "metrics.json").read_text())["reroot"] is False
