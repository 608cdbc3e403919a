"""Training: flip geometry, overfitting, exact resume (in process and after SIGKILL), run dirs, artefacts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from stages.lift.augment import FlipGeometry, flip_back, flip_batch, flip_feature_maps
from stages.lift.build import StoreMismatchError, build_lifter, geometry_from_store
from stages.lift.dataset import CacheBatchDataset
from stages.lift.joints import H36M_FLIP_PERM
from stages.lift.model import ContextAwarePoseFormer, mpjpe_loss
from stages.lift.sampling import sample_bilinear
from stages.lift.checkpoints import ResumeError, find_resume_checkpoint, load_checkpoint_file, new_run_dir
from stages.lift.train import TrainRequest, train
from tests.helpers import PROJECT_ROOT, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("lift") / "s.zarr", num_frames=32, shard_frames=8)


# --------------------------------------------------------------------------- flip geometry

@pytest.mark.parametrize("convention", ["mmpose", "authors"])
def test_flipped_maps_sampled_at_flipped_joints_give_the_unflipped_features(convention):
    """The alignment proof: maps that vary linearly along W (bilinear sampling is exact on them) are
    mirrored with flip_feature_maps and sampled by the model's own sampler at the mirrored reference
    points (191 - x for a 192-wide crop); each joint reads what its left/right partner read before."""
    model = ContextAwarePoseFormer(ref_convention=convention, embed_dim=16, depth=1, spatial_heads=4,
                                   fusion_heads=4)
    geometry = FlipGeometry.of(model)
    w_in, h_in = model.input_size_wh
    gen = torch.Generator().manual_seed(0)
    maps = []
    for channels, stride in zip(model.level_channels, model.level_strides):
        h, w = h_in // stride, w_in // stride
        slope = torch.randn(1, channels, 1, 1, generator=gen, dtype=torch.float64)
        row = torch.randn(1, channels, h, 1, generator=gen, dtype=torch.float64)
        maps.append(slope * torch.arange(w, dtype=torch.float64).view(1, 1, 1, w) + row)
    # joints away from the left/right borders (where the mirrored map repeats its edge values)
    ref = torch.stack([torch.rand(1, 17, generator=gen, dtype=torch.float64) * (w_in - 80) + 40,
                       torch.rand(1, 17, generator=gen, dtype=torch.float64) * (h_in - 1)], -1)
    batch = {"pose2d": torch.zeros(1, 17, 2, dtype=torch.float64), "ref_px": ref, "feats": maps}
    flipped = flip_batch(batch, geometry)
    assert torch.allclose(flipped["ref_px"][..., 0], (w_in - 1) - ref[:, list(H36M_FLIP_PERM), 0])

    def sampled(b):
        grid = model.reference_grid(b["ref_px"], [tuple(m.shape[-2:]) for m in b["feats"]])
        return [sample_bilinear(m, grid[:, i].unsqueeze(2))[:, :, 0] for i, m in enumerate(b["feats"])]

    for before, after in zip(sampled(batch), sampled(flipped)):
        torch.testing.assert_close(after, before[:, list(H36M_FLIP_PERM)], rtol=1e-9, atol=1e-9)
    # plain torch.flip misses by up to a cell: the correction is not cosmetic
    plain = flip_batch(batch, FlipGeometry.of(model, exact=False))
    if convention == "mmpose":
        assert not torch.allclose(sampled(plain)[0], sampled(batch)[0][:, list(H36M_FLIP_PERM)], atol=1e-3)


def test_flip_twice_is_the_identity_for_joints_and_targets():
    geometry = FlipGeometry((4, 8), (24, 32))
    gen = torch.Generator().manual_seed(1)
    batch = {"pose2d": torch.randn(3, 17, 2, generator=gen), "ref_px": torch.rand(3, 17, 2, generator=gen) * 20,
             "target": torch.randn(3, 17, 3, generator=gen), "feats": [torch.randn(3, 2, 8, 6, generator=gen)]}
    twice = flip_batch(flip_batch(batch, geometry), geometry)
    for key in ("pose2d", "ref_px", "target"):
        torch.testing.assert_close(twice[key], batch[key])
    once = flip_batch(batch, geometry)
    torch.testing.assert_close(once["target"][:, 0, 0], -batch["target"][:, 0, 0])
    torch.testing.assert_close(flip_back(once["target"]), batch["target"])
    # a map constant along W is only mirrored (left/right reversed columns of a constant = itself)
    const = [torch.ones(1, 2, 8, 6)]
    assert torch.equal(flip_feature_maps(const, geometry)[0], const[0])


# --------------------------------------------------------------------------- optimisation

def test_loss_falls_on_a_fixed_batch(store):
    cfg = tiny_config()
    geometry = geometry_from_store(cfg, store)
    torch.manual_seed(0)
    model = build_lifter(cfg, geometry)
    batch = CacheBatchDataset(store.path, np.arange(8), geometry.names)[np.arange(8)]
    optimizer = torch.optim.AdamW(model.param_groups(3e-3, 0.1), lr=3e-3, weight_decay=0.0)
    losses = []
    for _ in range(60):
        loss = mpjpe_loss(model(batch["pose2d"], batch["feats"], batch["ref_px"]), batch["target"])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses[::10]


def _weights(path: Path) -> dict:
    return load_checkpoint_file(path)["state_dict"]


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


@pytest.mark.slow
def test_a_run_writes_checkpoints_logs_and_the_report(store, tmp_path):
    result = train(TrainRequest(cfg=tiny_config(), store_path=store.path, work_root=tmp_path, config_name="tiny",
                                progress=False))
    run = result.run_dir
    assert run.parent == tmp_path / "tiny" and result.epochs_done == 2 and result.iterations == 8
    for name in ("epoch_1.pth", "epoch_2.pth", "best.pth", "config.py", "run.json", "metrics.json", "table.md",
                 "per_joint_error.png", "skeletons.png", "train.log"):
        assert (run / name).is_file(), name
    assert (run / "last_checkpoint").read_text() == "epoch_2.pth"
    lines = [json.loads(line) for line in (run / "scalars.json").read_text().splitlines()]
    assert any("loss_mm" in line for line in lines) and sum("val/mpjpe" in line for line in lines) == 2
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["checkpoint"] == "best.pth" and metrics["mpjpe"] > 0 and metrics["p_mpjpe"] > 0
    assert result.best_val_mpjpe == pytest.approx(min(line["val/mpjpe"] for line in lines if "val/mpjpe" in line))
    assert json.loads((run / "run.json").read_text())["store_key"] == store.key


def test_two_runs_of_one_config_get_their_own_dirs(store, tmp_path):
    request = TrainRequest(cfg=tiny_config(eval=dict(after_train=False)), store_path=store.path, work_root=tmp_path,
                           config_name="tiny", max_iters=1, progress=False)
    first, second = train(request).run_dir, train(request).run_dir
    assert first != second and first.parent == second.parent
    assert (first / "iter_1.pth").is_file() and (second / "iter_1.pth").is_file()
    assert new_run_dir(tmp_path, "tiny") not in (first, second)


@pytest.mark.slow
def test_resume_from_a_mid_epoch_stop_matches_an_uninterrupted_run(store, tmp_path):
    cfg = tiny_config(train=dict(epochs=2), eval=dict(after_train=False))
    whole = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "a", progress=False))
    stopped = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "b", max_iters=6,
                                 progress=False))
    assert stopped.last_checkpoint.name == "iter_6.pth" and stopped.epochs_done == 1  # 4 batches per epoch
    resumed = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "b", resume=stopped.run_dir,
                                 progress=False))
    assert resumed.run_dir == stopped.run_dir and resumed.iterations == whole.iterations == 8
    _assert_same_weights(_weights(whole.last_checkpoint), _weights(resumed.last_checkpoint))
    assert resumed.best_val_mpjpe == pytest.approx(whole.best_val_mpjpe)


@pytest.mark.slow
def test_a_kill_before_the_pointer_is_written_resumes_from_the_newest_checkpoint(store, tmp_path):
    """A kill just after ``epoch_1.pth`` is renamed into place but before ``last_checkpoint`` names
    it (CI hit this window): the checkpoint on disk is complete, so --resume must use it."""
    cfg = tiny_config(train=dict(epochs=2), eval=dict(after_train=False))
    whole = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "a", progress=False))
    stopped = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "b", max_iters=4,
                                 progress=False))
    (stopped.run_dir / "last_checkpoint").unlink()
    assert find_resume_checkpoint(stopped.run_dir)[1].name == "epoch_1.pth"
    resumed = train(TrainRequest(cfg=cfg, store_path=store.path, work_root=tmp_path / "b", resume=stopped.run_dir,
                                 progress=False))
    _assert_same_weights(_weights(whole.last_checkpoint), _weights(resumed.last_checkpoint))


def test_resume_of_a_run_with_no_checkpoint_names_the_dir(tmp_path):
    with pytest.raises(ResumeError, match="nothing to resume"):
        find_resume_checkpoint(tmp_path)


def test_a_mismatched_store_fails_before_a_run_dir_exists(store, tmp_path):
    with pytest.raises(StoreMismatchError):
        train(TrainRequest(cfg=tiny_config(model=dict(levels=[0, 1, 2])), store_path=store.path,
                           work_root=tmp_path, progress=False))
    assert not any(tmp_path.iterdir())


def _train_command(config: Path, store_path: Path, work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", "from pipeline.lift_cli import train; train()", "--config", str(config),
            "--store", str(store_path), "--work-dir", str(work), "--quiet", *extra]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    """Two real processes: one runs 6 epochs; the other is SIGKILLed once epoch_1.pth exists and is resumed
    with --resume <run dir>. The last checkpoints' weights must be bit-identical."""
    store_ = make_store(tmp_path / "s.zarr", num_frames=64, shard_frames=8)
    config = write_config(tmp_path / "tiny.py", tiny_config(train=dict(epochs=6), eval=dict(after_train=False)))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    run = dict(cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    whole = subprocess.run(_train_command(config, store_.path, tmp_path / "a"), timeout=300, **run)
    assert whole.returncode == 0, whole.stdout
    whole_dir = next((tmp_path / "a" / "tiny").iterdir())

    victim = subprocess.Popen(_train_command(config, store_.path, tmp_path / "b"), **run)
    deadline = time.monotonic() + 240
    first = None
    while time.monotonic() < deadline and victim.poll() is None:
        first = next((tmp_path / "b" / "tiny").glob("*/epoch_1.pth"), None) if (tmp_path / "b" / "tiny").is_dir() else None
        if first is not None:
            break
        time.sleep(0.01)
    assert victim.poll() is None and first is not None, "the run ended before it could be killed"
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    victim_dir = first.parent
    assert victim.returncode == -signal.SIGKILL and not (victim_dir / "epoch_6.pth").exists()

    resumed = subprocess.run(_train_command(config, store_.path, tmp_path / "b", "--resume", str(victim_dir)),
                             timeout=300, **run)
    assert resumed.returncode == 0, resumed.stdout
    _assert_same_weights(_weights(whole_dir / "epoch_6.pth"), _weights(victim_dir / "epoch_6.pth"))
    assert find_resume_checkpoint(victim_dir)[1].name == "epoch_6.pth"


@pytest.mark.slow
@pytest.mark.parametrize("context", ["none", "concat", "fusion"])
def test_every_ablation_step_trains_and_evaluates(store, tmp_path, context):
    result = train(TrainRequest(cfg=tiny_config(model=dict(context=context)), store_path=store.path,
                                work_root=tmp_path, max_iters=2, progress=False))
    assert result.iterations == 2 and result.metrics["mpjpe"] > 0
    assert _weights(result.last_checkpoint).keys() >= {"head.1.weight"}
