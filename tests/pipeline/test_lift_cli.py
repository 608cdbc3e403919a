"""`capf train | eval | flops` through click, on tiny real stores and the shipped configs."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from pipeline.lift_cli import evaluate, flops, train
from stages.lift.cost import PAPER_FLOPS_PER_FRAME
from tests.helpers import PROJECT_ROOT, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

torch.set_num_threads(1)


def _flops_json(config: str) -> dict:
    result = CliRunner().invoke(flops, [str(PROJECT_ROOT / config), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_flops_of_the_full_model_and_of_step0():
    full = _flops_json("configs/capf/capf_hrnet32_h36m.py")
    assert full["params"] == 14_094_147
    assert abs(full["flops_per_frame"] / PAPER_FLOPS_PER_FRAME["deformable"] - 1) < 0.10
    step0 = _flops_json("configs/ablations/step0_no_context.py")
    assert abs(step0["flops_per_frame"] / 446.0e6 - 1) < 0.10
    assert step0["params"] < full["params"]


def test_every_shipped_lift_config_builds():
    for config in sorted((PROJECT_ROOT / "configs").glob("*/*.py")):
        if config.parent.name in ("capf", "ablations"):
            cost = _flops_json(str(config.relative_to(PROJECT_ROOT)))
            assert cost["params"] > 1e6 and cost["flops_per_frame"] > 1e8, config


def test_flops_text_output_names_the_modules():
    result = CliRunner().invoke(flops, [str(PROJECT_ROOT / "configs/ablations/levels_no_stride4.py")])
    assert result.exit_code == 0, result.output
    assert "levels ['1', '2', '3']" in result.output and "deformable" in result.output


@pytest.fixture
def store(tmp_path):
    return make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)


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
