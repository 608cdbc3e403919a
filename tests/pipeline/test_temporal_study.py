"""`capf ablate --study temporal` machinery on a tiny store: each model's lr tuned on a validation
split of the training videos, then every (model, T) per seed, Table 6 out with per-seed numbers."""

import json
from pathlib import Path

import numpy as np
import pytest

from cache.store import FeatureStore
from pipeline.temporal_study import StudyPlan, comparisons, format_table6, run_temporal_study, summarise
from stages.lift.dataset import lift_inputs, select_frames
from stages.lift.validation_split import carve_validation
from tests.stages.lift.lift_stores import make_store, tiny_temporal_config


def _write_configs(folder):
    folder.mkdir()
    for prefix, context in (("poseformer", "none"), ("capf_s", "fusion")):
        for t in (1, 3):
            cfg = tiny_temporal_config(t, context, train=dict(epochs=1, batch_size=8), data=dict(frame_step=1))
            (folder / f"{prefix}_t{t}.py").write_text("".join(f"{k} = {v!r}\n" for k, v in cfg.items()))
    (folder / "study.py").write_text("frames = [1, 3]\ntune = dict(frames=3, val_fraction=0.5, lr=[1e-4, 1e-3])\n")
    return folder


def test_the_validation_split_takes_whole_training_videos(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=48, shard_frames=8)
    frames = np.arange(48)
    train, val = carve_validation(store, frames, 0.5)
    videos = np.asarray(lift_inputs(store, frames).labels["video"])
    assert sorted(np.r_[train, val].tolist()) == frames.tolist()
    assert set(videos[train]).isdisjoint(videos[val]) and len(set(videos[val])) == 2
    again = carve_validation(store, frames, 0.5)
    assert np.array_equal(again[1], val)


@pytest.mark.slow
def test_temporal_study_tunes_on_training_videos_then_runs_every_model_and_window_per_seed(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=48, shard_frames=8)  # no joint features yet: the study adds them
    configs = _write_configs(tmp_path / "configs")
    assert StudyPlan.load(configs) == StudyPlan(frames=(1, 3), tune_frames=3, val_fraction=0.5, lrs=(1e-4, 1e-3))
    out = run_temporal_study(store.path, store.key, tmp_path / "work", seeds=[0, 1], config_dir=configs)
    # tuning: two lrs per model, validated on half the S1 (training) videos, never on S9 (test)
    s1 = select_frames(FeatureStore.open(store.path), ["S1"])
    _, val = carve_validation(FeatureStore.open(store.path), s1, 0.5)
    for model, tuned in out["tuning"].items():
        assert [t["lr"] for t in tuned["trials"]] == [1e-4, 1e-3]
        assert tuned["overrides"]["train"]["lr"] == min(tuned["trials"], key=lambda t: t["val_mpjpe"])["lr"]
    tune_runs = sorted((tmp_path / "work" / "models").glob("tune_*.json"))
    assert len(tune_runs) == 4
    for path in tune_runs:
        metrics = json.loads((Path(json.loads(path.read_text())["run_dir"]) / "metrics.json").read_text())
        assert metrics["num_frames"] == len(val)
    rows = {(r["model"], r["frames"]): r for r in out["rows"]}
    assert set(rows) == {("PoseFormer", 1), ("PoseFormer", 3), ("CA-PF-S", 1), ("CA-PF-S", 3)}
    for row in rows.values():
        assert row["seeds"] == 2 and row["mpjpe"] > 0 and row["mpjve"] > 0 and set(row["per_seed"]) == {"0", "1"}
        assert row["mpjpe"] == pytest.approx(np.mean([v["mpjpe"] for v in row["per_seed"].values()]))
    assert rows[("CA-PF-S", 3)]["flops_per_frame"] > rows[("CA-PF-S", 1)]["flops_per_frame"]
    assert rows[("PoseFormer", 1)]["paper_mpjpe"] == 53.2 and rows[("CA-PF-S", 3)]["paper_mpjve"] == 4.8
    table = (tmp_path / "work" / "temporal.md").read_text()
    assert "| CA-PF-S | 3 | 2 |" in table and " ± " in table and "2 seed(s)" in table and "Recipe tuning" in table
    saved = json.loads((tmp_path / "work" / "temporal.json").read_text())
    assert len(saved["runs"]["CA-PF-S_t3"]) == 2 and "seed" not in saved["runs"]["CA-PF-S_t3"][0]["identity"]
    assert saved["runs"]["CA-PF-S_t3"][1]["identity"]["seed"] == 1  # seed 0 is the config's own: no override
    assert saved["runs"]["CA-PF-S_t3"][0]["identity"]["overrides"] == out["tuning"]["CA-PF-S"]["overrides"]
    assert set(saved["trends"]) == {"PoseFormer", "CA-PF-S"} and len(saved["comparisons"]) == 2
    # a rerun finds every record and trains nothing
    again = run_temporal_study(store.path, store.key, tmp_path / "work", seeds=[0, 1], config_dir=configs)
    assert again["rows"] == out["rows"]


def test_table6_formatting_and_the_paired_comparison():
    runs = {("PoseFormer", 81): [{"mpjpe": 50.0, "mpjve": 3.0, "flops_per_frame": 2e6, "params": 1e5},
                                  {"mpjpe": 52.0, "mpjve": 5.0, "flops_per_frame": 2e6, "params": 1e5}],
            ("CA-PF-S", 81): [{"mpjpe": 49.0, "mpjve": 3.0, "flops_per_frame": 3e6, "params": 2e5},
                               {"mpjpe": 53.0, "mpjve": 4.0, "flops_per_frame": 3e6, "params": 2e5}]}
    rows = summarise(runs, seeds=[0, 1])
    table = format_table6(rows)
    assert "| PoseFormer | 81 | 2 | 51.0 ± 1.4 | 4.0 ± 1.4 | 50.0, 52.0 | 2.0 | 0.10 | 44.3 / 3.1 |" in table
    assert "| CA-PF-S | 81 | 2 | 51.0 ± 2.8 | 3.5 ± 0.7 | 49.0, 53.0 | 3.0 | 0.20 | – / – |" in table
    assert comparisons(rows) == [{"frames": 81, "capf_s_minus_poseformer_mm": 0.0, "capf_s_better_seeds": 1,
                                  "paired_seeds": 2}]
