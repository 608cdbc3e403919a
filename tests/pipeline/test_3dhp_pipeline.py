"""MPI-INF-3DHP end to end: both synthetic layouts -> `python -m pipeline extract` -> train -> eval ->
metrics.json with PCK, AUC and MPJPE per scene group and activity."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from cache.store import FeatureStore
from pipeline.cli import main
from stages.lift.joints import mpi3dhp17_to_h36m17
from tests.helpers import PROJECT_ROOT, slim_extract_config, write_config

TEST_SET = "mpi_inf_3dhp_test_set"
MMPOSE_DATASET = {"type": "mpi_inf_3dhp", "name": "synth_3dhp", "layout": "mmpose",
                  "annotation": ["annotations/mpi_inf_3dhp_train.npz", "annotations/mpi_inf_3dhp_test_valid.npz"],
                  "cameras": ["annotations/cameras_train.pkl", "annotations/cameras_test.pkl"],
                  "images": "images", "activities": TEST_SET}
OFFICIAL_DATASET = {"type": "mpi_inf_3dhp", "name": "synth_3dhp", "layout": "official",
                    "annotation": [f"TS{n}/annot_data.mat" for n in range(1, 7)], "joints_3d": "univ_annot3"}
SLIM_LEVELS = dict(input_size_wh=(96, 128), strides=[4, 8, 16, 32], channels=[16, 32, 64, 128])


def extract_config(dataset: dict) -> dict:
    cfg = slim_extract_config(shard_frames=8, kp2d={"source": "ground_truth"})
    cfg["dataset"] = dict(dataset)
    return cfg


def lift_config(dataset: dict) -> dict:
    """The paper's 3DHP setting (ground-truth 2D, detector maps) at toy width for CPU."""
    return {**extract_config(dataset),
            "model": dict(type="ContextAwarePoseFormer", context="deformable", levels=[0, 1, 2, 3], embed_dim=16,
                          depth=1, num_levels_sampling_points=2, deformable_heads=4, spatial_heads=4,
                          fusion_heads=4, drop_path_rate=0.1),
            "detector_levels": SLIM_LEVELS,
            "train": dict(batch_size=8, epochs=1, lr=1e-3, offset_lr_mult=0.1, weight_decay=0.01, lr_decay=0.99,
                          flip_aug=True, amp=False, workers=0, in_memory=False, seed=0, log_interval=1, keep_ckpts=1),
            "data": dict(train_subjects=[f"S{s}" for s in range(1, 9)], test_subjects=[f"TS{n}" for n in range(1, 7)]),
            "eval": dict(flip_test=True, batch_size=16, after_train=True)}


def capf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=400)


def check_3dhp_metrics(metrics: dict, num_frames: int) -> None:
    assert metrics["num_frames"] == num_frames
    assert 0 <= metrics["pck150"] <= 100 and 0 <= metrics["auc"] <= metrics["pck150"] and metrics["mpjpe"] > 0
    assert list(metrics["per_scene"]) == ["green screen", "no green screen", "outdoor"]
    assert sum(row["num_frames"] for row in metrics["per_scene"].values()) == num_frames
    assert len(metrics["per_activity"]) >= 3 and "unlabelled" not in metrics["per_activity"]
    assert sum(row["num_frames"] for row in metrics["per_activity"].values()) == num_frames
    for row in [*metrics["per_scene"].values(), *metrics["per_activity"].values()]:
        assert set(row) == {"pck150", "auc", "mpjpe", "num_frames"} and row["mpjpe"] > 0


@pytest.mark.slow
def test_both_3dhp_layouts_extract_train_and_evaluate(synth_3dhp, tmp_path):
    cache, work = tmp_path / "cache", tmp_path / "work"
    mmpose_cfg = write_config(tmp_path / "extract_mmpose.py", extract_config(MMPOSE_DATASET))
    run = capf("extract", "--config", str(mmpose_cfg), "--data-root", str(synth_3dhp), "--random-init",
               "--cache-dir", str(cache), "--quiet")
    assert run.returncode == 0, run.stderr
    (store_path,) = cache.glob("synth_3dhp-hrnet_slim-128x96-*.zarr")
    store = FeatureStore.open(store_path)
    train = np.load(synth_3dhp / "annotations/mpi_inf_3dhp_train.npz")
    test = np.load(synth_3dhp / "annotations/mpi_inf_3dhp_test_valid.npz")
    S, part = (np.concatenate([train[k], test[k]]) for k in ("S", "part"))
    # the store holds the npz's S in millimetres and part as the 2D (the lifter's H36M-17 rows)
    np.testing.assert_allclose(store.read("gt3d"), mpi3dhp17_to_h36m17(S[..., :3]) * 1000.0, rtol=1e-6)
    np.testing.assert_allclose(store.read("kp2d"), mpi3dhp17_to_h36m17(part[..., :2]), rtol=1e-6)
    np.testing.assert_allclose(store.read("gt2d"), store.read("kp2d"))
    assert store.attrs["key_inputs"]["kp2d_source"].startswith("ground_truth:")
    assert set(store.labels("scene")) == {"green screen", "no green screen", "outdoor"}

    official_cfg = write_config(tmp_path / "extract_official.py", extract_config(OFFICIAL_DATASET))
    result = CliRunner().invoke(main, ["extract", "--config", str(official_cfg), "--data-root",
                                       str(synth_3dhp / TEST_SET), "--random-init", "--cache-dir", str(cache), "--quiet"])
    assert result.exit_code == 0, result.output
    (official_path,) = set(cache.glob("synth_3dhp-*.zarr")) - {store_path}
    official = FeatureStore.open(official_path)
    assert official.attrs["key_inputs"]["extra"] == {"gt3d": "univ_annot3"}
    with h5py.File(synth_3dhp / TEST_SET / "TS1/annot_data.mat", "r") as mat:
        first = mat["univ_annot3"][int(np.flatnonzero(mat["valid_frame"][:, 0])[0]), 0]
    np.testing.assert_allclose(official.read("gt3d")[0], mpi3dhp17_to_h36m17(first), rtol=1e-6)

    # train on S1-S8 of the mmpose-layout store (a cache hit: no detector work), evaluated on its TS frames
    mmpose_lift = write_config(tmp_path / "capf_3dhp.py", lift_config(MMPOSE_DATASET))
    result = CliRunner().invoke(main, ["train", "--config", str(mmpose_lift), "--data-root", str(synth_3dhp),
                                       "--random-init", "--cache-dir", str(cache), "--work-dir", str(work), "--quiet"])
    assert result.exit_code == 0, result.output
    run_dir = next((work / "capf_3dhp").iterdir())
    check_3dhp_metrics(json.loads((run_dir / "metrics.json").read_text()), len(test["imgname"]))

    # the same checkpoint on the official layout's store, through `python -m pipeline eval`
    official_lift = write_config(tmp_path / "capf_3dhp_official.py", lift_config(OFFICIAL_DATASET))
    out = tmp_path / "eval_official"
    run = capf("eval", "--config", str(official_lift), "--ckpt", str(run_dir / "best.pth"), "--data-root",
               str(synth_3dhp / TEST_SET), "--random-init", "--cache-dir", str(cache), "--out-dir", str(out), "--quiet")
    assert run.returncode == 0, run.stderr
    assert "cache hit" in run.stderr and "MPJPE" in run.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    check_3dhp_metrics(metrics, official.num_frames)
    assert official.num_frames == len(test["imgname"])  # the same valid frames, univ_annot3 as ground truth
    table = (out / "table.md").read_text()
    assert "| Model | PCK ↑ | AUC ↑ | MPJPE (mm) ↓ |" in table and "| Metric | GS | noGS | Outdoor | All |" in table


def test_bad_official_input_is_one_line_and_writes_nothing(synth_3dhp_copy, tmp_path):
    path = synth_3dhp_copy / TEST_SET / "TS2/annot_data.mat"
    with h5py.File(path, "r+") as mat:
        del mat["activity_annotation"]
    config = write_config(tmp_path / "extract_official.py", extract_config(OFFICIAL_DATASET))
    cache = tmp_path / "cache"
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root",
                                       str(synth_3dhp_copy / TEST_SET), "--random-init", "--cache-dir", str(cache)])
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: {path}: malformed annotation: missing field 'activity_annotation' "
                                     "(has ['annot2', 'annot3', 'univ_annot3', 'valid_frame'])")
    assert not cache.exists() or not any(cache.iterdir())
