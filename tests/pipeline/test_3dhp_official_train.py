"""MPI-INF-3DHP as the authors train and score it, end to end on the synthetic set: the official
training layout (S<s>/Seq<q>/annot.mat + videos) and test set in one store, univ_annot3 on both
sides, the authors' crop, a fusion-only lifter -> train -> `python -m pipeline eval` -> the test set's
14-joint PCK/AUC; and a checkpoint scored on another ground truth is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cache.store import FeatureStore
from pipeline.cli import main
from tests.helpers import PROJECT_ROOT, slim_extract_config, write_config

SLIM_LEVELS = dict(input_size_wh=(96, 128), strides=[4, 8, 16, 32], channels=[16, 32, 64, 128])
TRAIN_CAMERAS = (0, 4)  # 2 of the authors' 8: 32 training frames keep the test short
GROUPS = ["head_top", "neck", "shoulders", "elbows", "wrists", "hips", "knees", "ankles"]


def official_dataset(root, **keys) -> dict:
    annotation = json.loads((root / "meta.json").read_text())["layouts"]["official_train"]["annotation"]
    return {"type": "mpi_inf_3dhp", "name": "synth_3dhp", "layout": "official", "annotation": annotation,
            "joints_3d": "univ_annot3", "crop": "authors", "train_cameras": list(TRAIN_CAMERAS), **keys}


def lift_config(dataset: dict) -> dict:
    """configs/lift/capf_3dhp_authors.py's model and recipe at toy width and length for CPU."""
    cfg = slim_extract_config(shard_frames=16, kp2d={"source": "ground_truth"})
    cfg["dataset"] = dataset
    return {**cfg,
            "model": dict(type="ContextAwarePoseFormer", context="fusion", levels=[0, 1, 2, 3], embed_dim=16,
                          depth=1, spatial_heads=4, fusion_heads=4, ref_convention="authors",
                          sampling_padding="zeros"),
            "detector_levels": SLIM_LEVELS,
            "train": dict(batch_size=16, epochs=2, lr=7e-4, lr_decay=0.97, weight_decay=0.1, offset_lr_mult=1.0,
                          flip_aug=False, amp=False, workers=0, seed=0, log_interval=1, keep_ckpts=1),
            "data": dict(train_subjects=[f"S{s}" for s in range(1, 9)], test_subjects=[f"TS{n}" for n in range(1, 7)]),
            "eval": dict(flip_test=False, batch_size=32, after_train=True)}


def capf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_official_training_layout_extract_train_and_evaluate(synth_3dhp, tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    config = write_config(tmp_path / "capf_3dhp_authors.py", lift_config(official_dataset(synth_3dhp)))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(synth_3dhp),
                                       "--random-init", "--cache-dir", str(cache), "--quiet"])
    assert result.exit_code == 0, result.output
    (store_path,) = cache.glob("synth_3dhp-hrnet_slim-*.zarr")
    store = FeatureStore.open(store_path)
    assert store.labels("gt3d") == ["univ_annot3"] and store.attrs["key_inputs"]["extra"]["crop"] == "authors"
    subjects = set(store.labels("subject"))
    assert subjects == {f"S{s}" for s in range(1, 9)} | {f"TS{n}" for n in range(1, 7)}

    result = CliRunner().invoke(main, ["train", "--config", str(config), "--store", str(store_path),
                                       "--work-dir", str(work), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = next((work / "capf_3dhp_authors").iterdir())
    trained = json.loads((run_dir / "metrics.json").read_text())
    assert trained["reroot"] == "zero_root"  # eval.reroot 'auto' on 3DHP: the authors' root handling

    out = tmp_path / "eval"
    run = capf("eval", "--config", str(config), "--ckpt", str(run_dir / "best.pth"), "--data-root", str(synth_3dhp),
               "--random-init", "--cache-dir", str(cache), "--out-dir", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "cache hit" in run.stderr and "PCK@150" in run.stdout and "(the test set's 14 joints)" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    test_frames = store.num_frames - 16 * len(TRAIN_CAMERAS)  # all but the 16 sequences' training frames
    assert metrics["num_frames"] == test_frames and list(metrics["per_sequence"]) == [f"TS{n}" for n in range(1, 7)]
    assert list(metrics["per_joint_group"]) == GROUPS
    for key in ("pck150", "auc", "pck150_17j", "auc_17j", "mpjpe"):
        assert metrics[key] == pytest.approx(trained[key], abs=1e-4), key  # the same weights, the same frames
    # the headline pools the 14 joints of the groups: the joint-weighted mean of the group figures
    weights = [1, 1, 2, 2, 2, 2, 2, 2]
    for key in ("pck150", "auc"):
        pooled = sum(w * metrics["per_joint_group"][g][key] for w, g in zip(weights, GROUPS)) / 14
        assert metrics[key] == pytest.approx(pooled, abs=1e-6)
    table = (out / "table.md").read_text()
    assert "By joint group:" in table and "All 17 joints" in table

    # the same checkpoint on a store of annot3: refused in one line, nothing scored
    annot3 = write_config(tmp_path / "capf_3dhp_annot3.py",
                          lift_config(official_dataset(synth_3dhp, joints_3d="annot3")))
    result = CliRunner().invoke(main, ["eval", "--config", str(annot3), "--ckpt", str(run_dir / "best.pth"),
                                       "--data-root", str(synth_3dhp), "--random-init", "--cache-dir", str(cache),
                                       "--out-dir", str(tmp_path / "refused"), "--quiet"])
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "trained on univ_annot3 ground truth" in error[0] and "holds annot3" in error[0]
    assert not (tmp_path / "refused" / "metrics.json").exists()
