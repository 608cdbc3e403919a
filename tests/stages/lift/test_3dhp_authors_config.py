"""The authors' MPI-INF-3DHP model and recipe as configs: the W32 config builds exactly their 3DHP
HRNet-32 lifter (the parameter count and every tensor shape of `module.volume_net.*` in their
checkpoint's manifest), and every setting is theirs."""

from __future__ import annotations

import json
import math
from collections import Counter

from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import load_config
from stages.lift.build import build_lifter, geometry_from_config
from stages.lift.settings import lift_settings
from tests.helpers import PROJECT_ROOT, SHARED_DATA

MANIFEST = SHARED_DATA.parent / "parity" / "authors_ca_pf" / "manifest.json"  # ../shared/parity
W32 = "configs/capf/capf_hrnet32_3dhp_authors.py"
W48 = "configs/capf/capf_hrnet48_3dhp_authors.py"


def authors_lifter_shapes() -> dict[str, list[int]]:
    assert MANIFEST.is_file(), f"{MANIFEST}: the authors' parity fixture is missing"
    checkpoint = json.loads(MANIFEST.read_text())["variants"]["3dhp_hrnet_w32"]["authors_checkpoint"]
    prefix = "module.volume_net."
    return {name[len(prefix):]: shape for name, shape in checkpoint.items()
            if name.startswith(prefix) and not name.endswith(("running_mean", "running_var", "num_batches_tracked"))}


def build(config: str):
    cfg = lift_settings(load_config(PROJECT_ROOT / config))
    return cfg, build_lifter(cfg, geometry_from_config(cfg))


def test_w32_config_builds_the_authors_3dhp_lifter():
    theirs = authors_lifter_shapes()
    _, model = build(W32)
    ours = {name: list(p.shape) for name, p in model.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) \
        == sum(math.prod(s) for s in theirs.values()) == 3_462_979
    # the same tensors: their Spatial_pos_embed (1, 1+L, J, C) is our pos_embed (1+L, J, C)
    squeeze = lambda shape: shape[1:] if len(shape) == 4 and shape[0] == 1 else shape  # noqa: E731
    assert Counter(tuple(squeeze(s)) for s in theirs.values()) == Counter(tuple(s) for s in ours.values())
    assert len(theirs) == len(ours) and not any("deformable" in name for name in ours)


def test_capf_flops_reports_the_same_count():
    result = CliRunner().invoke(main, ["flops", W32, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["params"] == 3_462_979


def test_authors_3dhp_settings():
    cfg, model = build(W32)
    assert (model.context, model.joint_dim // 5, model.ref_convention, model.sampling_padding) == \
        ("fusion", 64, "authors", "zeros")
    train = cfg["train"]
    assert (train["batch_size"], train["lr"], train["lr_decay"], train["epochs"], train["weight_decay"]) == \
        (160, 7e-4, 0.97, 79, 0.1)
    assert (train["amp"], train["flip_aug"], cfg["eval"]["flip_test"], cfg["eval"]["reroot"]) == \
        (False, False, False, "zero_root")
    dataset = cfg["dataset"]
    assert (dataset["layout"], dataset["joints_3d"], dataset["crop"], list(dataset["train_cameras"])) == \
        ("official", "univ_annot3", "authors", [0, 1, 2, 4, 5, 6, 7, 8])
    assert cfg["kp2d"]["source"] == "ground_truth"
    assert sum(1 for name in dataset["annotation"] if name.endswith("/annot.mat")) == 16  # S1-S8 x Seq1-2

    cfg48, model48 = build(W48)
    assert (model48.context, model48.joint_dim // 5, model48.level_channels) == ("fusion", 96, (48, 96, 192, 384))
    assert cfg48["train"] == train


def test_w32_config_computes_what_the_authors_3dhp_model_computes():
    """Their stand-in checkpoint (../shared/parity: every tensor rebuilt from its name and shape) loaded
    into the W32 config's model by renaming alone reproduces their model's output on the fixtures'
    HRNet maps and joints. Their joints are in 3DHP's order and the inputs here are fed as they were:
    the model is the same function whatever the joints' order, given the positional embedding in it."""
    import sys

    import numpy as np
    import torch

    shapes = authors_lifter_shapes()
    sys.path.insert(0, str(MANIFEST.parents[1]))
    try:
        from authors_weights import weight_for
    finally:
        sys.path.pop(0)
    seed = json.loads(MANIFEST.read_text())["seed"]
    renames = (("Spatial_pos_embed", "pos_embed"), ("res_blocks.", "fusion.blocks."),
               ("joint_blocks.", "inter_joint.blocks."))
    state = {}
    for name, shape in shapes.items():
        value = torch.from_numpy(weight_for(f"module.volume_net.{name}", tuple(shape), seed))
        for old, new in renames:
            name = name.replace(old, new)
        state[name] = value[0] if name == "pos_embed" else value
    _, model = build(W32)
    model.load_state_dict(state, strict=True)
    inputs = np.load(MANIFEST.parent / "inputs.npz")
    golden = np.load(MANIFEST.parent / "3dhp_hrnet_w32.npz")
    feats = [torch.from_numpy(golden[f"feat_{i}"]) for i in range(4)]
    with torch.no_grad():
        pred = model.eval()(torch.from_numpy(inputs["kp2d_norm"]), feats,
                            torch.from_numpy(inputs["kp2d_crop_px"])).numpy()
    scale = np.abs(golden["pred"]).mean()
    np.testing.assert_allclose(pred, golden["pred"], atol=1e-4 * scale, rtol=0)
