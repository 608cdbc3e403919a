"""`capf ablate --study temporal` machinery on a tiny store: every (model, T) per seed, Table 6 out."""

import json

import pytest

from pipeline.temporal_study import format_table6, run_temporal_study, summarise
from tests.stages.lift.lift_stores import make_store, tiny_config


def _write_configs(folder):
    folder.mkdir()
    for prefix, context in (("poseformer", "none"), ("capf_s", "fusion")):
        for t in (1, 3):
            cfg = tiny_config(train=dict(epochs=1, batch_size=8, window_chunk=4))
            cfg["model"] = dict(type="TemporalPoseFormer", context=context, frames=t, levels=[0, 1], embed_dim=16,
                                depth=1, spatial_heads=4, fusion_heads=4, temporal_joint_dim=4, temporal_depth=1,
                                temporal_heads=4)
            (folder / f"{prefix}_t{t}.py").write_text("".join(f"{k} = {v!r}\n" for k, v in cfg.items()))
    return folder


@pytest.mark.slow
def test_temporal_study_runs_every_model_and_window_per_seed(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)  # no joint features yet: the study adds them
    configs = _write_configs(tmp_path / "configs")
    out = run_temporal_study(store.path, store.key, tmp_path / "work", seeds=[0, 1], config_dir=configs, frames=(1, 3))
    rows = {(r["model"], r["frames"]): r for r in out["rows"]}
    assert set(rows) == {("PoseFormer", 1), ("PoseFormer", 3), ("CA-PF-S", 1), ("CA-PF-S", 3)}
    for row in rows.values():
        assert row["seeds"] == 2 and row["mpjpe"] > 0 and row["mpjve"] > 0 and row["mpjpe_std"] >= 0
    assert rows[("CA-PF-S", 3)]["flops_per_frame"] > rows[("CA-PF-S", 1)]["flops_per_frame"]
    assert rows[("PoseFormer", 1)]["paper_mpjpe"] == 53.2 and rows[("CA-PF-S", 3)]["paper_mpjve"] == 4.8
    table = (tmp_path / "work" / "temporal.md").read_text()
    assert "| CA-PF-S | 3 |" in table and " ± " in table and "2 seed(s)" in table
    saved = json.loads((tmp_path / "work" / "temporal.json").read_text())
    assert len(saved["runs"]["CA-PF-S_t3"]) == 2 and "seed" not in saved["runs"]["CA-PF-S_t3"][0]["identity"]
    assert saved["runs"]["CA-PF-S_t3"][1]["identity"]["seed"] == 1  # seed 0 is the config's own: no override
    assert set(saved["trends"]) == {"PoseFormer", "CA-PF-S"}
    # a rerun finds every record and trains nothing
    again = run_temporal_study(store.path, store.key, tmp_path / "work", seeds=[0, 1], config_dir=configs,
                               frames=(1, 3))
    assert again["rows"] == out["rows"]


def test_table6_formatting():
    runs = {("PoseFormer", 81): [{"mpjpe": 50.0, "mpjve": 3.0, "flops_per_frame": 2e6, "params": 1e5},
                                  {"mpjpe": 52.0, "mpjve": 5.0, "flops_per_frame": 2e6, "params": 1e5}]}
    table = format_table6(summarise(runs))
    assert "| PoseFormer | 81 | 51.0 ± 1.4 | 4.0 ± 1.4 | 2.0 | 0.10 | 44.3 | 3.1 |" in table
