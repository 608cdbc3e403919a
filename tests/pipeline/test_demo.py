"""`capf demo` at toy scale: every step runs for real, writes the summary, and a rerun skips all."""

import json

import pytest
from click.testing import CliRunner

from pipeline.cli import main


@pytest.mark.slow
def test_demo_end_to_end_at_toy_scale(tmp_path):
    args = ["demo", "--work-dir", str(tmp_path / "demo"), "--train-frames", "48", "--test-frames", "24",
            "--detector-epochs", "1", "--lift-epochs", "1"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert set(summary) == {"step0_no_context", "step3_full"}
    for record in summary.values():
        assert record["mpjpe"] > 0 and record["p_mpjpe"] > 0 and record["flops_per_frame"] > 0
    assert summary["step3_full"]["flops_per_frame"] > summary["step0_no_context"]["flops_per_frame"]
    assert (tmp_path / "demo" / "summary.png").stat().st_size > 0
    detector = json.loads((tmp_path / "demo" / "detector" / "detector.json").read_text())
    assert 0.0 <= detector["pck"] <= 1.0 and len(detector["sha256"]) == 64

    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "cache hit" in second.output and second.output.count("done before") == 2
    assert json.loads((tmp_path / "demo" / "summary.json").read_text()) == summary

    ablation = CliRunner().invoke(main, ["ablate", *args[1:], "--config", "configs/demo/step1_concat.py",
                                         "--config", "configs/demo/levels_stride32_only.py"])
    assert ablation.exit_code == 0, ablation.output
    assert "cache hit" in ablation.output  # the ablations reuse the demo's store: no detector work
    table = (tmp_path / "demo" / "ablation.md").read_text()
    assert "step1_concat" in table and "levels_stride32_only" in table
