"""DDP training under torchrun (gloo, CPU): two ranks take the steps one process takes.

Stochastic depth draws its random numbers per rank (each rank drops paths of its own frames), so a
DDP run with drop_path_rate > 0 is a different random run from a one-process run; the comparisons
here use drop_path_rate=0, where the two must agree up to float rounding (each rank reduces over
its part of the batch, DDP then averages the two gradients).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stages.lift.dataset import FrameBatchSampler
from tests.helpers import PROJECT_ROOT, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

# Measured on CPU (2 gloo ranks vs 1 process, OMP_NUM_THREADS=1): per-step losses and validation
# MPJPEs agree to 1.1e-7 relative, weights (key biases aside, see `comparable`) to 1.2e-7 absolute
# after 8 AdamW steps; the bounds leave a 10-100x margin and stay far below what one differently
# weighted batch changes.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-6


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def train_command(config: Path, store: Path, work_dir: Path, nproc: int, *extra: str) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                "--master-port", str(free_port())] if nproc > 1 else [sys.executable]
    return [*launcher, "-m", "pipeline", "train", "--config", str(config), "--store", str(store),
            "--work-dir", str(work_dir), "--device", "cpu", "--workers", "0", "--quiet", *extra]


def run(command: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # ranks and the single process: one thread each
    done = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def only_run_dir(work_dir: Path) -> Path:
    (run_dir,) = (work_dir / "ddp").iterdir()
    return run_dir


def scalars(run_dir: Path) -> tuple[list[tuple[int, float]], list[float]]:
    """(step, loss_mm) per logged step and the validation MPJPEs, from scalars.json."""
    lines = [json.loads(line) for line in (run_dir / "scalars.json").read_text().splitlines()]
    losses = [(line["step"], line["loss_mm"]) for line in lines if "loss_mm" in line]
    return losses, [line["val/mpjpe"] for line in lines if "val/mpjpe" in line]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


def comparable(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The weights without the attention's key biases (the middle third of each ``qkv.bias``).

    A key bias adds the same q.b_k to every logit of a softmax row, so its true gradient is zero
    and what it gets is rounding noise; AdamW divides by that noise's own scale and moves it by
    about lr per step in a direction set by the last bits of the reduction order (measured: up
    to 1.9e-4 apart after 8 steps, in one process as in two). It cannot change any output, which
    the loss and MPJPE comparisons check.
    """
    out = {}
    for key, value in state.items():
        if key.endswith("attn.qkv.bias"):
            q, _, v = value.chunk(3)
            value = torch.cat([q, v])
        out[key] = value
    return out


def max_weight_difference(a: dict, b: dict) -> float:
    a, b = comparable(a), comparable(b)
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def assert_same_weights(a: dict, b: dict, atol: float = WEIGHT_ATOL) -> None:
    a, b = comparable(a), comparable(b)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=0, atol=atol), (key, float((a[key] - b[key]).abs().max()))


@pytest.mark.parametrize("num_items, batch_size, world", [(16, 5, 2), (17, 4, 4), (10, 3, 4), (9, 9, 1)])
def test_rank_parts_and_loss_weights_make_the_global_batch_mean(num_items, batch_size, world):
    """What DDP needs from the sampler: the ranks' parts of each global batch are the batch, and
    the average over ranks of weight x (mean loss over the part) is the global batch's mean loss,
    whatever the part sizes; a rank left without frames gets a stand-in weighed 0."""
    per_frame_loss = np.random.default_rng(0).random(num_items)
    samplers = [FrameBatchSampler(num_items, batch_size, shuffle=True, seed=3, rank=r, world_size=world)
                for r in range(world)]
    for epoch in (0, 1):
        for sampler in samplers:
            sampler.set_epoch(epoch, skip_batches=1)
        global_batches = samplers[0].batches()[1:]
        parts = [list(sampler) for sampler in samplers]
        assert all(len(p) == len(global_batches) == len(s) for p, s in zip(parts, samplers))
        for index, batch in enumerate(global_batches, start=1):
            weights = [sampler.loss_weight(index) for sampler in samplers]
            own = [part[index - 1] for part in parts]
            assert all(len(o) and np.all(np.diff(o) > 0) for o in own)  # non-empty, sorted
            real = [o for o, w in zip(own, weights) if w > 0]
            np.testing.assert_array_equal(np.sort(np.concatenate(real)), batch)
            ddp_mean = sum(w * per_frame_loss[o].mean() for o, w in zip(own, weights)) / world
            assert ddp_mean == pytest.approx(per_frame_loss[batch].mean(), rel=1e-12)
    if world == 1:
        assert samplers[0].loss_weight(0) == 1.0


@pytest.fixture
def setup(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)  # 16 train (S1), 16 val (S9) frames
    # 16 frames in batches of 5: parts of 3 and 2 frames, then a last batch of one frame that rank 1
    # meets with a zero-weighted stand-in; both paths of the loss weighting are exercised.
    cfg = tiny_config(model={"drop_path_rate": 0.0},
                      train={"batch_size": 5, "epochs": 2, "log_interval": 1, "keep_ckpts": 5},
                      eval={"batch_size": 3})  # 6 eval batches: ranks predict 3 each
    return store.path, write_config(tmp_path / "ddp.py", cfg)


@pytest.mark.slow
def test_two_gloo_ranks_train_like_one_process(setup, tmp_path):
    store, config = setup
    two = run(train_command(config, store, tmp_path / "two", 2))
    run(train_command(config, store, tmp_path / "one", 1))
    assert two.stdout.count("run dir:") == 1  # rank 0 alone reports

    run_two, run_one = only_run_dir(tmp_path / "two"), only_run_dir(tmp_path / "one")  # rank 1 made no dir
    assert json.loads((run_two / "run.json").read_text())["processes"] == 2
    losses_two, val_two = scalars(run_two)
    losses_one, val_one = scalars(run_one)
    assert [s for s, _ in losses_two] == [s for s, _ in losses_one] == list(range(1, 9))  # logged once per step
    assert len({round(v, 3) for _, v in losses_one}) > 1  # training moves the loss: the comparison has teeth
    torch.testing.assert_close(torch.tensor([v for _, v in losses_two], dtype=torch.float64),
                               torch.tensor([v for _, v in losses_one], dtype=torch.float64),
                               rtol=LOSS_RTOL, atol=0)
    torch.testing.assert_close(torch.tensor(val_two), torch.tensor(val_one), rtol=LOSS_RTOL, atol=0)
    for name in ("epoch_1.pth", "epoch_2.pth", "best.pth"):
        assert_same_weights(weights(run_two / name), weights(run_one / name))
    # an epoch moves the weights by far more than the tolerance
    assert max_weight_difference(weights(run_one / "epoch_1.pth"), weights(run_one / "epoch_2.pth")) > 1e3 * WEIGHT_ATOL
    final_two = json.loads((run_two / "metrics.json").read_text())
    final_one = json.loads((run_one / "metrics.json").read_text())
    assert final_two["num_frames"] == final_one["num_frames"] == 16
    assert final_two["mpjpe"] == pytest.approx(final_one["mpjpe"], rel=LOSS_RTOL)


@pytest.mark.slow
def test_a_ddp_run_stopped_mid_epoch_resumes_to_the_uninterrupted_weights(setup, tmp_path):
    """Every rank loads the checkpoint (with its own RNG state) and rank 0 keeps writing the same run
    dir; the resumed job ends where a one-process run ends (float rounding apart)."""
    store, config = setup
    run(train_command(config, store, tmp_path / "two", 2, "--max-iters", "3"))
    run_dir = only_run_dir(tmp_path / "two")
    assert (run_dir / "iter_3.pth").is_file() and not (run_dir / "epoch_1.pth").exists()
    assert len(torch.load(run_dir / "iter_3.pth", weights_only=True)["rng_ranks"]) == 2
    run(train_command(config, store, tmp_path / "two", 2, "--resume", str(run_dir)))
    assert only_run_dir(tmp_path / "two") == run_dir
    run(train_command(config, store, tmp_path / "one", 1))
    assert_same_weights(weights(run_dir / "epoch_2.pth"), weights(only_run_dir(tmp_path / "one") / "epoch_2.pth"))
    losses, _ = scalars(run_dir)
    assert [s for s, _ in losses] == list(range(1, 9))  # the resumed part continues the step count
