"""`capf demo` at toy scale: every step runs for real, writes the summary, and a rerun skips all."""

import json

import pytest
from click.testing import CliRunner

from pipeline.cli import main


@pytest.mark.slow
# the whole demo at toy size, its rerun, a two-seed dtype study and two ablations: eight lifter trainings
@pytest.mark.timeout(1800)
def test_demo_end_to_end_at_toy_scale(tmp_path):
    args = ["demo", "--world", "limbs", "--work-dir", str(tmp_path / "demo"), "--train-frames", "48", "--test-frames", "24",
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

    # a seeded study on the same cache: the fp16 arm's seed 0 is the demo's own step 3 (not retrained)
    study = CliRunner().invoke(main, ["ablate", *args[1:], "--study", "dtype", "--seeds", "2"])
    assert study.exit_code == 0, study.output
    assert "step3_full: done before" in study.output
    result = json.loads((tmp_path / "demo" / "studies" / "dtype.json").read_text())
    fp16, int8 = result["fp16 store"], result["int8 store (per frame and channel uint8)"]
    assert fp16["seeds"] == int8["seeds"] == [0, 1]
    assert fp16["mpjpe"][0] == pytest.approx(summary["step3_full"]["mpjpe"])
    assert int8["mean"] == pytest.approx(sum(int8["mpjpe"]) / 2)
    # each seed trains its own lifter: ignored seeds would give two equal numbers and a std of 0
    assert int8["mpjpe"][0] != int8["mpjpe"][1] and int8["std"] > 0 and fp16["mpjpe"][0] != fp16["mpjpe"][1]
    assert "± " in (tmp_path / "demo" / "studies" / "dtype.md").read_text()

    ablation = CliRunner().invoke(main, ["ablate", *args[1:], "--config", "configs/demo/step1_concat.py",
                                         "--config", "configs/demo/levels_stride32_only.py"])
    assert ablation.exit_code == 0, ablation.output
    assert "cache hit" in ablation.output  # the ablations reuse the demo's store: no detector work
    table = (tmp_path / "demo" / "ablation.md").read_text()
    assert "step1_concat" in table and "levels_stride32_only" in table


def test_each_world_has_its_own_work_dir_and_a_demo_never_mixes_worlds(tmp_path, monkeypatch):
    """`--world limbs` without --work-dir works in work_dirs/demo_limbs; a work dir that holds
    the other world's data is refused before anything is trained or written."""
    from pathlib import Path

    from pipeline.demo import DemoSettings
    from stages.synth.writer import write_synthetic_h36m

    assert DemoSettings().work_dir == Path("work_dirs/demo") and DemoSettings().world == "clothing"
    assert DemoSettings(world="limbs").work_dir == Path("work_dirs/demo_limbs")
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "work_dirs" / "demo_limbs" / "synth_h36m"
    write_synthetic_h36m(data, n_train=2, n_test=1, image_size=(96, 96), progress=False,
                         look="clothing")  # the other world's data
    for command in ("demo", "ablate"):
        result = CliRunner().invoke(main, [command, "--world", "limbs"])
        assert result.exit_code != 0
        assert "work_dirs/demo_limbs holds the demo of the 'clothing' world" in result.output, result.output
    assert sorted(p.name for p in data.parent.iterdir()) == ["synth_h36m"]  # no detector, no cache
    assert json.loads((data / "meta.json").read_text())["look"] == "clothing"  # its data untouched


def test_a_fresh_work_dir_belongs_to_no_world_yet(tmp_path):
    """An empty work dir is no world's (a limbs demo's first run must not be refused as 'clothing');
    infer's fallback still asks for the default world."""
    from pipeline.demo import demo_world

    assert demo_world(tmp_path, default=None) is None
    assert demo_world(tmp_path) == "clothing"


def test_synth_look_option(tmp_path):
    result = CliRunner().invoke(main, ["synth", "--out", str(tmp_path / "d"), "--train-frames", "2",
                                       "--test-frames", "1", "--image-size", "96x96", "--look", "clothing"])
    assert result.exit_code == 0, result.output
    assert "clothing look" in result.output
    assert json.loads((tmp_path / "d" / "meta.json").read_text())["params"]["look"] == "clothing"
