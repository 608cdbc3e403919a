"""torchrun-sharded extraction with gloo: ranks write disjoint shards of one store."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache.store import FeatureStore
from tests.helpers import PROJECT_ROOT, arrays_of, make_h36m_copy, slim_extract_config, write_config

W32 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"


def extract_command(config, data, cache_dir, nproc: int) -> list[str]:
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                "--master-port", str(29500 + os.getpid() % 1000)] if nproc > 1 else [sys.executable]
    return [*launcher, "-m", "pipeline", "extract", "--config", str(config), "--data-root", str(data),
            "--random-init", "--quiet", "--workers", "0", "--cache-dir", str(cache_dir)]


@pytest.fixture
def sharded_setup(h36m_root, tmp_path):
    data = make_h36m_copy(h36m_root, tmp_path / "data", repeats=4)  # 16 frames, 8 shards
    cfg = slim_extract_config(shard_frames=2, runtime={"batch_size": 1, "num_workers": 0})
    return data, write_config(tmp_path / "extract.py", cfg)


@pytest.mark.slow
def test_two_gloo_ranks_write_the_same_store_as_one_process(sharded_setup, tmp_path):
    data, config = sharded_setup
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = subprocess.run(extract_command(config, data, tmp_path / "two", 2), cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=400)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "extracted 16 of 16 frames" in two.stdout
    one = subprocess.run(extract_command(config, data, tmp_path / "one", 1), cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=400)
    assert one.returncode == 0, one.stderr[-2000:]
    (two_path,), (one_path,) = (tmp_path / "two").glob("*.zarr"), (tmp_path / "one").glob("*.zarr")
    assert two_path.name == one_path.name
    assert arrays_of(two_path) == arrays_of(one_path)


def rank_of(pid: int) -> int:
    """The RANK torchrun gave a worker process (from its environment)."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return int(next(v for v in environ if v.startswith(b"RANK=")).split(b"=", 1)[1])


@pytest.mark.slow
def test_a_killed_rank_leaves_its_shards_for_a_rerun(sharded_setup, h36m_root, tmp_path):
    """SIGKILL one rank mid-run: torchrun stops the job, the store stays incomplete with the killed
    rank's unfinished shards not done, and a rerun with any number of processes (1 and 2 here, each
    on its own copy of the killed store) extracts exactly the frames of the shards not done, and no
    more, ending equal to an uninterrupted store."""
    data, _ = sharded_setup
    cfg = slim_extract_config(shard_frames=2, detector={"name": "hrnet_w32", "config": W32},
                              runtime={"batch_size": 1, "num_workers": 0})
    config = write_config(tmp_path / "w32.py", cfg)
    cache_dir = tmp_path / "cache"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    job = subprocess.Popen(extract_command(config, data, cache_dir, 2), cwd=PROJECT_ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, killed_rank = time.time() + 300, None
    while time.time() < deadline and job.poll() is None and killed_rank is None:
        stores = list(cache_dir.glob("*.zarr"))
        if stores:
            try:
                done = FeatureStore.open(stores[0], allow_incomplete=True).done_mask().sum()
            except Exception:
                done = 0
            if done >= 1:
                victim = int(subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True,
                                            text=True, timeout=30).stdout.split()[-1])
                killed_rank = rank_of(victim)
                os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    assert killed_rank is not None, "the job finished before a rank could be killed"
    job.wait(timeout=120)
    assert job.returncode != 0
    (path,) = cache_dir.glob("*.zarr")
    partial = FeatureStore.open(path, allow_incomplete=True)
    num_shards = partial.spec.num_shards
    pending = partial.pending_shards()
    assert not partial.is_complete() and 0 < len(pending) < num_shards
    # the first run split all 8 shards rank::2; the killed rank died before finishing its own
    killed_rank_shards = list(range(num_shards))[killed_rank::2]
    assert set(pending) & set(killed_rank_shards), (killed_rank, pending)
    pending_frames = sum(stop - start for start, stop in map(partial.spec.shard_bounds, pending))

    clean = subprocess.run(extract_command(config, data, tmp_path / "clean", 1), cwd=PROJECT_ROOT, env=env,
                           capture_output=True, text=True, timeout=400)
    assert clean.returncode == 0, clean.stderr[-2000:]
    (clean_path,) = (tmp_path / "clean").glob("*.zarr")
    for nproc in (1, 2):
        copy_dir = tmp_path / f"rerun-{nproc}"
        shutil.copytree(path, copy_dir / path.name)
        rerun = subprocess.run(extract_command(config, data, copy_dir, nproc), cwd=PROJECT_ROOT, env=env,
                               capture_output=True, text=True, timeout=400)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert f"extracted {pending_frames} of 16 frames" in rerun.stdout, (nproc, rerun.stdout)
        assert FeatureStore.open(copy_dir / path.name).is_complete()
        assert arrays_of(copy_dir / path.name) == arrays_of(clean_path), nproc
