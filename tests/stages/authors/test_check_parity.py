"""`capf check-parity` on the shared fixture (the authors' own code's outputs): it passes for every
variant the manifest lists, and fails when a map is wrong (CAPF's old HRNet levels, one swapped
lifter tensor) or when the reference moves."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.cli import main
from stages.authors.parity import TOLERANCE, ImportedVariant, compare
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """One run of the command over the whole fixture, its imported files kept."""
    keep = tmp_path_factory.mktemp("parity")
    result = CliRunner().invoke(main, ["check-parity", str(FIXTURE), "--keep", str(keep), "--quiet"])
    return result, keep


@pytest.mark.slow
def test_capf_computes_what_the_authors_model_computes(kept):
    result, keep = kept
    assert result.exit_code == 0, result.output
    variants = json.loads((FIXTURE / "manifest.json").read_text())["variants"]
    rows = [line for line in result.output.splitlines() if line.startswith("| ") and not line.startswith("| variant")]
    assert [row.split("|")[1].strip() for row in rows] == list(variants)
    assert all(row.rstrip().endswith("| ok |") for row in rows)
    header = result.output.splitlines()[0]
    for column in ("input", "feat_0", "feat_3", "heatmaps", "kp2d_norm", "kp2d_crop_px", "pred", "pred_flip_test"):
        assert f" {column} " in header
    for variant in variants:
        assert (keep / variant / "capf" / "lifter.pth").is_file() and (keep / variant / "hrnet" / "detector.pth").is_file()


def _imported(keep, variant: str) -> ImportedVariant:
    def config(folder):
        return json.loads((keep / variant / folder / "import.json").read_text())["extract_config"]
    return ImportedVariant(keep / variant / "capf", keep / variant / "hrnet", (config("capf"), config("hrnet")))


@pytest.mark.slow
def test_capfs_own_levels_fail_where_they_differ(kept):
    """Levels 1-3 entering stage 4 (CAPF's default) are not what the released lifter read."""
    _, keep = kept
    report = compare(FIXTURE, "h36m_hrnet_w32", _imported(keep, "h36m_hrnet_w32"), hrnet_levels="stage4_inputs")
    assert not report.passed
    assert report.errors["feat_0"] <= TOLERANCE and report.errors["heatmaps"] <= TOLERANCE
    assert min(report.errors[f"feat_{level}"] for level in (1, 2, 3)) > 0.1


@pytest.mark.slow
def test_one_swapped_lifter_tensor_fails(kept, tmp_path):
    _, keep = kept
    imported = _imported(keep, "h36m_hrnet_w32")
    broken = tmp_path / "capf"
    shutil.copytree(imported.capf, broken)
    saved = torch.load(broken / "lifter.pth", weights_only=True)
    state = saved["state_dict"]
    square = [k for k, v in state.items() if v.ndim == 2 and v.shape[0] == v.shape[1] and "inter_joint" in k]
    first, second = square[0], next(k for k in square[1:] if state[k].shape == state[square[0]].shape)
    state[first], state[second] = state[second], state[first]
    torch.save(saved, broken / "lifter.pth")
    report = compare(FIXTURE, "h36m_hrnet_w32", ImportedVariant(broken, imported.hrnet, imported.extract_configs))
    assert report.errors["feat_1"] <= TOLERANCE and report.errors["pred"] > TOLERANCE and not report.passed


@pytest.mark.slow
def test_a_fixture_is_read_from_its_own_folder_and_a_moved_reference_fails(tmp_path):
    """Variants come from the manifest (here one of them); a reference moved by 1 % exits 1."""
    folder = tmp_path / "fixture"
    folder.mkdir()
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    manifest["variants"] = {"3dhp_hrnet_w32": manifest["variants"]["3dhp_hrnet_w32"]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for name in ("inputs.npz", "3dhp_hrnet_w32_bn_stats.npz"):
        shutil.copy(FIXTURE / name, folder / name)
    with np.load(FIXTURE / "3dhp_hrnet_w32.npz") as data:
        outputs = {k: data[k] for k in data.files}
    outputs["pred"] = outputs["pred"] * 1.01
    np.savez(folder / "3dhp_hrnet_w32.npz", **outputs)
    result = CliRunner().invoke(main, ["check-parity", str(folder), "--quiet"])
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("| 3dhp_hrnet_w32"))
    assert row.rstrip().endswith("| FAIL |") and "h36m" not in result.output
