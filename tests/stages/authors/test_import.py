"""`capf import` on the official HRNet file rebuilt from the shared fixture's manifest, and each bad
input refused in one line with nothing written."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from cache.key import sha256_file
from pipeline.cli import main
from stages.authors.fixture import save_as_authors
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"
W32_VARIANT = "h36m_hrnet_w32"


@pytest.fixture(scope="module")
def official_w32(tmp_path_factory):
    """pose_hrnet_w32_256x192.pth as the HRNet authors save it (bare state dict), stand-in weights."""
    _, official = save_as_authors(FIXTURE, W32_VARIANT, tmp_path_factory.mktemp("official"))
    return official


def run_import(*args):
    return CliRunner().invoke(main, ["import", *map(str, args)])


def test_the_official_file_becomes_a_strictly_loadable_mmpose_detector(official_w32, tmp_path):
    from stages.detector.topdown import TopdownDetector

    out = tmp_path / "hrnet"
    result = run_import(official_w32, "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads((out / "import.json").read_text())
    assert record["source"]["sha256"] == sha256_file(official_w32)
    assert record["recognised"]["kind"] == "official_hrnet" and record["recognised"]["hrnet_width"] == 32
    assert record["extract_config"] == "configs/extract/video_hrnet_w32_authors.py"
    assert record["unused_keys"] == [] and record["outputs"]["detector.pth"]["heatmap_head"] is True
    assert record["outputs"]["detector.pth"]["sha256"] == sha256_file(out / "detector.pth")
    config = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"
    detector = TopdownDetector(config, out / "detector.pth")  # loads strictly: every tensor from the file
    source = torch.load(official_w32, weights_only=True)
    own = detector.model.state_dict()
    assert torch.equal(own["head.final_layer.weight"], source["final_layer.weight"])
    assert torch.equal(own["backbone.stage4.2.fuse_layers.0.3.1.running_var"],
                       source["stage4.2.fuse_layers.0.3.1.running_var"])
    # the same file again into its own import: allowed (replaced); sorted listing unchanged
    assert run_import(official_w32, "--out", out).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["detector.pth", "import.json"]


def _refused(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _nothing_written(tmp_path, out):
    assert not out.exists() or not any(out.iterdir())
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_bad_inputs_are_one_line_and_write_nothing(official_w32, tmp_path):
    out = tmp_path / "out"
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint\n")
    _refused(run_import(text, "--out", out), str(text), "unreadable as a torch checkpoint")
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(official_w32.read_bytes()[: official_w32.stat().st_size // 2])
    _refused(run_import(truncated, "--out", out), str(truncated), "truncated")
    foreign = tmp_path / "foreign.pth"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, foreign)
    _refused(run_import(foreign, "--out", out), str(foreign), "match none", "encoder.weight")
    source = torch.load(official_w32, weights_only=True)
    lacking = tmp_path / "lacking.pth"
    torch.save({k: v for k, v in source.items() if k != "stage3.1.branches.2.0.conv2.weight"}, lacking)
    _refused(run_import(lacking, "--out", out), "lacks 1 tensors", "backbone.stage3.1.branches.2.0.conv2.weight")
    extra = tmp_path / "extra.pth"
    torch.save({**source, "stage5.0.conv.weight": torch.zeros(1)}, extra)
    _refused(run_import(extra, "--out", out), "does not have", "stage5.0.conv.weight")
    # a config that reads CAPF's own HRNet levels would feed the released lifter maps it never saw
    _refused(run_import(official_w32, "--out", out, "--config", "configs/extract/video_hrnet_w32.py"),
             "hrnet_levels", "stage4_branch_outputs")
    _nothing_written(tmp_path, out)


def test_a_w48_file_with_a_w32_config_is_refused(tmp_path):
    w48 = tmp_path / "pose_hrnet_w48_256x192.pth"
    torch.save({"stage4.0.branches.0.0.conv1.weight": torch.zeros(48, 48, 3, 3),
                "final_layer.weight": torch.zeros(17, 48, 1, 1), "final_layer.bias": torch.zeros(17)}, w48)
    out = tmp_path / "out"
    _refused(run_import(w48, "--out", out, "--config", "configs/extract/video_hrnet_w32_authors.py"),
             "HRNet-W48 file", "HRNet-W32", "video_hrnet_w48_authors.py")
    _nothing_written(tmp_path, out)


def test_an_out_folder_with_other_files_is_refused_and_kept(official_w32, tmp_path):
    out = tmp_path / "results"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    _refused(run_import(official_w32, "--out", out), str(out), "holds other files")
    assert [p.name for p in out.iterdir()] == ["metrics.json"]
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
