"""`capf export CKPT --format onnx`: the single-frame and the temporal lifter as ONNX graphs, and
onnxruntime reproducing torch to 1e-4 m on a real (tiny) store's frames through the lifter's own input
assembly; batch sizes other than the traced one; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.lift_cli import train
from stages.export.onnx_export import (ONNX_TOLERANCE_M, compare_on_store, example_inputs, graph_spec,
                                       load_lifter_checkpoint, onnx_session)
from stages.lift.joint_feats import write_joint_feats
from tests.helpers import write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

torch.set_num_threads(1)


def trained(tmp_path: Path, store, cfg: dict, name: str) -> Path:
    config = write_config(tmp_path / f"{name}.py", cfg)
    result = CliRunner().invoke(train, ["--config", str(config), "--store", str(store.path), "--work-dir",
                                        str(tmp_path / "work"), "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "work" / name).iterdir()
    return run_dir / "best.pth"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("store") / "s.zarr", num_frames=24, shard_frames=8)
    write_joint_feats(store.path, convention="mmpose", progress=False)
    return store


def export(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["export", *map(str, args)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_single_frame_capf_as_onnx_matches_torch_on_the_stores_frames(store, tmp_path):
    ckpt = trained(tmp_path, store, tiny_config(), "tiny")
    code, output = export(ckpt, "--format", "onnx", "--out", tmp_path / "onnx", "--store", store.path)
    assert code == 0, output
    assert "onnxruntime vs torch on 24 frames" in output and "(ok:" in output
    (graph,) = (tmp_path / "onnx").glob("*.onnx")
    spec = json.loads(graph.with_suffix(".json").read_text())
    assert spec["kind"] == "single_frame" and list(spec["inputs"]) == ["pose2d", "ref_px", "feat_0", "feat_1"]
    assert spec["inputs"]["feat_1"] == ["B", 16, 4, 3] and spec["opset"] >= 16
    assert spec["check"]["max_abs_diff_m"] <= ONNX_TOLERANCE_M and len(spec["checkpoint_sha256"]) == 64

    # the same comparison done here: real frames, the lifter's own batches, not a trivially equal output
    model, meta = load_lifter_checkpoint(ckpt)
    torch_out, onnx_out, frames = compare_on_store(model, graph_spec(model), graph, store.path, meta, frames=24)
    assert frames == 24 and np.abs(torch_out - onnx_out).max() <= ONNX_TOLERANCE_M
    assert np.abs(torch_out).max() > 1e-3 and np.ptp(torch_out, axis=0).max() > 1e-4  # outputs that vary
    # a batch size the graph was not traced with
    inputs = example_inputs(graph_spec(model), batch=7, seed=3)
    with torch.no_grad():
        expected = model(inputs["pose2d"], [inputs["feat_0"], inputs["feat_1"]], inputs["ref_px"]).numpy()
    got = onnx_session(graph).run(["kp3d"], {k: v.numpy() for k, v in inputs.items()})[0]
    assert got.shape == (7, 17, 3) and np.abs(got - expected).max() <= ONNX_TOLERANCE_M


def test_temporal_lifter_as_onnx_over_its_window(store, tmp_path):
    cfg = tiny_config(train=dict(batch_size=4), data=dict(frame_step=1))
    cfg["model"] = dict(type="ContextAwarePoseFormerS", context="fusion", frames=5, levels=[0, 1], embed_dim=8,
                        depth=1, spatial_heads=4, fusion_heads=2, temporal_depth=1, temporal_heads=4,
                        ref_convention="mmpose")
    ckpt = trained(tmp_path, store, cfg, "tiny_t5")
    code, output = export(ckpt, "--out", tmp_path / "onnx", "--store", store.path)
    assert code == 0, output
    (graph,) = (tmp_path / "onnx").glob("*.onnx")
    spec = json.loads(graph.with_suffix(".json").read_text())
    assert spec["kind"] == "temporal" and spec["frames"] == 5
    assert spec["inputs"] == {"pose2d": ["U", 17, 2], "window": ["B", 5], "joint_feat_0": ["U", 17, 8],
                              "joint_feat_1": ["U", 17, 16]}
    assert spec["check"]["frames"] == 24 and spec["check"]["max_abs_diff_m"] <= ONNX_TOLERANCE_M


def test_bad_checkpoints_are_one_line(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    code, output = export(tmp_path / "junk.pth", "--out", tmp_path / "onnx")
    assert code == 1 and output.startswith("Error: ") and "junk.pth" in output and "Traceback" not in output
    code, output = export(tmp_path / "missing.pth")
    assert code == 1 and "missing.pth: lift checkpoint not found" in output
    assert not (tmp_path / "onnx").exists()
