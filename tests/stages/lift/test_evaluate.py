"""Evaluation: flip-test averaging, metrics by dataset kind, and the report files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stages.lift.augment import FlipGeometry, flip_back, flip_batch
from stages.lift.build import build_lifter, geometry_from_store
from stages.lift.dataset import CacheBatchDataset, FrameBatchSampler, make_loader, select_frames
from stages.lift.evaluate import compute_metrics, evaluate, predict
from tests.stages.lift.lift_stores import make_store, tiny_config

torch.set_num_threads(1)
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    store = make_store(tmp_path_factory.mktemp("lift") / "s.zarr", num_frames=32, shard_frames=8)
    cfg = tiny_config()
    geometry = geometry_from_store(cfg, store)
    torch.manual_seed(0)
    model = build_lifter(cfg, geometry).eval()
    with torch.no_grad():  # a model that is not mirror-symmetric by accident
        model.head[1].bias.copy_(torch.tensor([0.3, -0.1, 0.2]))
    dataset = CacheBatchDataset(store.path, select_frames(store, ["S9"]), geometry.names)
    return store, model, dataset


def test_flip_test_is_the_mean_of_the_direct_and_the_mirrored_back_prediction(setup):
    _, model, dataset = setup
    loader = make_loader(dataset, FrameBatchSampler(len(dataset), 5, shuffle=False), workers=0, pin_memory=False)
    plain = predict(model, loader, device=CPU, flip_test=False)
    flipped = predict(model, loader, device=CPU, flip_test=True)
    batch = dataset[np.arange(len(dataset))]
    with torch.no_grad():
        direct = model(batch["pose2d"], batch["feats"], batch["ref_px"])
        mirrored = flip_batch(batch, FlipGeometry.of(model))
        back = flip_back(model(mirrored["pose2d"], mirrored["feats"], mirrored["ref_px"]))
    np.testing.assert_allclose(plain, direct.numpy(), atol=1e-5)
    np.testing.assert_allclose(flipped, ((direct + back) / 2).numpy(), atol=1e-5)
    assert np.abs(flipped - plain).max() > 1e-3  # the flipped pass really changes the answer


def test_evaluate_writes_metrics_table_and_plots(setup, tmp_path):
    _, model, dataset = setup
    result = evaluate(model, dataset, device=CPU, batch_size=8, workers=0, flip_test=True, out_dir=tmp_path,
                      title="tiny", extra={"checkpoint": "x.pth"})
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["mpjpe"] > 0 and metrics["p_mpjpe"] > 0 and metrics["flip_test"] is True
    assert metrics["checkpoint"] == "x.pth" and metrics["num_frames"] == 16
    assert set(metrics["per_action"]) == {"Walking", "Eating"}
    assert metrics["mpjve"] is not None  # each video of the tiny store has consecutive frame numbers
    for name in ("table.md", "per_joint_error.png", "skeletons.png"):
        assert (tmp_path / name).is_file(), name
    assert "MPJPE (P1)" in (tmp_path / "table.md").read_text()
    np.testing.assert_allclose(result.gt_mm, dataset.inputs.target_m * 1000)


def test_metrics_follow_the_dataset_kind():
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 200, (6, 17, 3))
    noise = rng.normal(0, 20, gt.shape)
    noise[:, 0] = 0.0
    pred = gt - gt[:, :1] + noise  # root-relative with its pelvis at 0: every eval.reroot scores it alike
    hp = compute_metrics(pred, gt, {"action": np.array(["Walking"] * 6)}, "mpi_inf_3dhp")
    assert {"pck150", "auc", "mpjpe", "p_mpjpe"} <= hp.keys() and hp["pck150"] == 100.0 and "per_action" not in hp
    plain = compute_metrics(pred, gt, {}, "video")
    assert plain["mpjpe"] == pytest.approx(hp["mpjpe"]) and plain["p_mpjpe"] < plain["mpjpe"]
    assert len(plain["per_joint_mpjpe"]) == 17
