"""`capf train | eval | flops` through click, on tiny real stores and the shipped configs."""

from __future__ import annotations

import ast
import json
import re

import pytest
import torch
from click.testing import CliRunner

from pipeline.config import load_config
from pipeline.lift_cli import evaluate, flops, train
from stages.lift.cost import PAPER_FLOPS_PER_FRAME
from tests.helpers import PROJECT_ROOT, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config
from tests.stages.lift.test_cost import FULL_W32_FLOPS, FULL_W32_PARAMS, STEP0_FLOPS, STEP0_PARAMS

torch.set_num_threads(1)


def _flops_json(config: str) -> dict:
    result = CliRunner().invoke(flops, [str(PROJECT_ROOT / config), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_flops_of_the_full_model_and_of_step0():
    """The counts `capf flops` prints are the counter's exact integers (see tests/stages/lift/test_cost.py)."""
    full = _flops_json("configs/capf/capf_hrnet32_h36m.py")
    assert full == {"params": FULL_W32_PARAMS, "flops_per_frame": FULL_W32_FLOPS}
    step0 = _flops_json("configs/ablations/step0_no_context.py")
    assert step0 == {"params": STEP0_PARAMS, "flops_per_frame": STEP0_FLOPS}
    assert abs(full["flops_per_frame"] / PAPER_FLOPS_PER_FRAME["deformable"] - 1) < 0.02  # README: +1.3 %
    assert abs(step0["flops_per_frame"] / PAPER_FLOPS_PER_FRAME["none"] - 1) < 0.01  # README: 448.7 vs 446.0


STRIDE_OF_LEVEL = {"0": 4, "1": 8, "2": 16, "3": 32}  # HRNet's four branches, finest first (README)
CONTEXT_OF_STEP = {"step0": "none", "step1": "concat", "step2": "fusion", "step3": "deformable"}
# the top-level modules each context builds (FLOPs breakdown names): each step adds one
MODULES_OF_CONTEXT = {
    "none": {"coord_embed", "inter_joint", "head"},
    "concat": {"coord_embed", "feat_embed", "inter_joint", "head", "(top level)"},
    "fusion": {"coord_embed", "feat_embed", "fusion", "inter_joint", "head", "(top level)"},
    "deformable": {"coord_embed", "feat_embed", "deformable", "fusion", "inter_joint", "head", "(top level)"},
}


# Backbones of the study (paper App. D) whose levels are not HRNet's four: level -> stride.
VITPOSE_STRIDE_OF_LEVEL = {"0": 4, "1": 8, "2": 16}  # head deconvs (4, 8) + the ViT token map (16)


def strides_of_levels(stem: str) -> dict[str, int]:
    return VITPOSE_STRIDE_OF_LEVEL if "vitpose" in stem else STRIDE_OF_LEVEL


def named_strides(stem: str) -> set[int]:
    """The strides a config's file name promises: `levels_stride4_8` -> {4, 8}, `levels_no_stride4`
    -> {8, 16, 32}, anything else -> all of its backbone's levels."""
    every = set(strides_of_levels(stem).values())
    if match := re.fullmatch(r"levels_no_stride(\d+)", stem):
        return every - {int(match[1])}
    if match := re.fullmatch(r"levels_stride(\d+(?:_\d+)*?)(?:_only)?", stem):
        return {int(s) for s in match[1].split("_")}
    assert not stem.startswith("levels_"), f"{stem}: a level ablation whose name this test cannot read"
    return every


def named_context(config) -> str:
    """The context a config's file name promises: stepN -> Table 3's step N; the authors' 3DHP model
    (*_3dhp_authors: no deformable layers) -> fusion; every other full-model config (configs/capf, and
    the level ablations, which inherit the full model) -> deformable."""
    step = re.match(r"step\d", config.stem)
    if step:
        return CONTEXT_OF_STEP[step[0]]
    if config.stem.endswith("_3dhp_authors"):
        return "fusion"
    # the demo's recipe and parity variants train step 3 with one setting changed
    assert config.parent.name == "capf" or config.stem.startswith(("levels_", "recipe_", "parity_")), \
        f"{config}: name says no model"
    return "deformable"


def _flops_text(config) -> dict:
    result = CliRunner().invoke(flops, [str(config)])
    assert result.exit_code == 0, result.output
    head, params, total, *modules = result.output.strip().splitlines()
    match = re.fullmatch(rf"{config.stem}: context=(\w+), levels (\[.*\])", head)
    assert match, head
    return {"context": match[1], "levels": ast.literal_eval(match[2]),
            "params": int(params.split()[-1].replace(",", "")), "mflops": float(total.split()[-2]),
            "modules": {line.rsplit(maxsplit=2)[0].strip() for line in modules}}


@pytest.mark.slow
def test_every_shipped_lift_config_builds_what_its_name_says():
    """Every lift config in configs/capf, configs/ablations and configs/demo builds, and the model
    `capf flops` builds from it has the context and levels its file name promises."""
    seen: dict[str, dict[str, dict]] = {}
    for folder in ("capf", "ablations", "demo"):
        for config in sorted((PROJECT_ROOT / "configs" / folder).glob("*.py")):
            cfg = load_config(config)
            if "model" not in cfg:  # an extract-only config (configs/demo/synth_extract.py)
                assert config.name == "synth_extract.py", config
                continue
            built = _flops_text(config)
            context = named_context(config)
            assert built["context"] == cfg["model"]["context"] == context, (config, built["context"])
            assert built["modules"] == MODULES_OF_CONTEXT[context], (config, built["modules"])
            stride_of_level = strides_of_levels(config.stem)
            assert cfg["detector_levels"]["strides"] == list(stride_of_level.values()), config
            assert [str(level) for level in cfg["model"]["levels"]] == built["levels"], config
            assert {stride_of_level[name] for name in built["levels"]} == named_strides(config.stem), \
                (config, built["levels"])
            assert built["params"] > (1e6 if folder != "demo" else 5e4) and built["mflops"] > 1, config
            seen.setdefault(folder, {})[config.stem] = built
    assert {"capf", "ablations", "demo"} == set(seen)
    # the HRNet-W32 full-model configs are the authors' model exactly; W48 has its published count too
    for stem in ("capf_hrnet32_h36m", "capf_hrnet32_h36m_cpn2d", "capf_hrnet32_h36m_released",
                 "capf_hrnet32_h36m_paper_text", "capf_hrnet32_h36m_authors", "capf_hrnet32_h36m_sample"):
        assert seen["capf"][stem]["params"] == FULL_W32_PARAMS, stem
    assert seen["capf"]["capf_hrnet48_h36m"]["params"] == 14_155_587
    # MPI-INF-3DHP uses the same models; the CPN-like backbone gives the authors' CPN count (4 x 256 ch)
    for stem in ("capf_hrnet32_3dhp", "capf_hrnet32_3dhp_official"):
        assert seen["capf"][stem]["params"] == FULL_W32_PARAMS, stem
    for stem in ("capf_hrnet48_3dhp", "capf_hrnet48_3dhp_official"):
        assert seen["capf"][stem]["params"] == 14_155_587, stem
    assert seen["capf"]["capf_mspn50_h36m"]["params"] == 14_233_411
    assert seen["capf"]["capf_hrnet32_3dhp_authors"]["params"] == 3_462_979  # their 3DHP checkpoint's lifter
    # within a family, each of Table 3's steps adds work: step0 < step1 < step2 < step3 (full)
    for steps in ([seen["ablations"][s] for s in ("step0_no_context", "step1_concat", "step2_fusion")]
                  + [seen["capf"]["capf_hrnet32_h36m"]],
                  [seen["demo"][s] for s in ("step0_no_context", "step1_concat", "step2_fusion", "step3_full")]):
        flops_in_order = [step["mflops"] for step in steps]
        assert flops_in_order == sorted(set(flops_in_order)), flops_in_order


def test_flops_text_output_names_the_modules():
    result = CliRunner().invoke(flops, [str(PROJECT_ROOT / "configs/ablations/levels_no_stride4.py")])
    assert result.exit_code == 0, result.output
    assert "levels ['1', '2', '3']" in result.output and "deformable" in result.output


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)


@pytest.mark.slow
def test_train_then_eval_from_the_command_line(store, tmp_path):
    config = write_config(tmp_path / "tiny.py", tiny_config())
    work = tmp_path / "work"
    result = CliRunner().invoke(train, ["--config", str(config), "--store", str(store.path), "--work-dir", str(work),
                                        "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = next((work / "tiny").iterdir())
    assert f"run dir: {run_dir}" in result.output and (run_dir / "metrics.json").is_file()

    # eval finds the store recorded in the checkpoint when none is given
    out = tmp_path / "report"
    result = CliRunner().invoke(evaluate, ["--config", str(config), "--ckpt", str(run_dir / "best.pth"),
                                           "--out-dir", str(out), "--no-flip-test", "--workers", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["flip_test"] is False and metrics["mpjpe"] > 0 and metrics["p_mpjpe"] > 0
    flipped = json.loads((run_dir / "metrics.json").read_text())
    assert flipped["flip_test"] is True and flipped["mpjpe"] != metrics["mpjpe"]
    assert "MPJPE" in result.output and (out / "skeletons.png").is_file()

    # --resume of a finished run trains nothing more and says so
    result = CliRunner().invoke(train, ["--config", str(config), "--work-dir", str(work), "--epochs", "1",
                                        "--resume", str(run_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "epochs 1, iterations 4" in result.output


def test_a_config_the_store_cannot_serve_is_one_clear_error(store, tmp_path):
    config = write_config(tmp_path / "bad.py", tiny_config(model=dict(levels=[0, 1, 2])))
    result = CliRunner().invoke(train, ["--config", str(config), "--store", str(store.path),
                                        "--work-dir", str(tmp_path / "work")])
    assert result.exit_code == 1
    assert "feature levels ['2']" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "work").exists()


def test_train_without_a_feature_source_says_what_to_pass(tmp_path):
    config = write_config(tmp_path / "tiny.py", tiny_config())
    result = CliRunner().invoke(train, ["--config", str(config), "--work-dir", str(tmp_path / "w")])
    assert result.exit_code == 1 and "--store" in result.output


@pytest.mark.slow
def test_train_finds_its_store_through_the_cache_key(h36m_copy, tmp_path):
    """No --store: the first run extracts with the slim detector (cache miss); a second config that
    differs only in the lifting model is a cache hit and does no detector work."""
    from tests.helpers import slim_extract_config

    cfg = {**slim_extract_config(shard_frames=4),
           **tiny_config(model=dict(levels=[0, 1, 2, 3]), data=dict(train_subjects=["S1", "S5"],
                                                                    test_subjects=["S7", "S8"]))}
    cfg["detector_levels"] = dict(input_size_wh=(96, 128), strides=[4, 8, 16, 32], channels=[16, 32, 64, 128])
    config = write_config(tmp_path / "slim.py", cfg)
    args = ["--config", str(config), "--data-root", str(h36m_copy), "--random-init", "--cache-dir",
            str(tmp_path / "cache"), "--work-dir", str(tmp_path / "work"), "--max-iters", "2", "--workers", "0"]
    first = CliRunner().invoke(train, args)
    assert first.exit_code == 0, first.output
    assert "extracted 12 of 12 frames" in first.output and len(list((tmp_path / "cache").glob("*.zarr"))) == 1
    # An ablation that differs only in the lifting model (step 0: no context) shares the store.
    step0 = write_config(tmp_path / "slim_step0.py", {**cfg, "model": {**cfg["model"], "context": "none"}})
    second = CliRunner().invoke(train, [*[str(step0) if a == str(config) else a for a in args], "--quiet"])
    assert second.exit_code == 0, second.output
    assert "cache hit" in second.output and "no detector work" in second.output
    assert len(list((tmp_path / "cache").glob("*.zarr"))) == 1
    assert len(list((tmp_path / "work" / "slim").iterdir())) == 1
    assert len(list((tmp_path / "work" / "slim_step0").iterdir())) == 1
