"""`capf extract` as a user runs it: real subprocesses, kills, resumes, bad input."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cache.key import MEMO_NAME
from click.testing import CliRunner

from cache.store import FeatureStore, StoreError
from pipeline.cli import main
from tests.helpers import (PROJECT_ROOT, SHARED_DATA, arrays_of, make_h36m_copy, mpii_headed_checkpoint,
                           slim_extract_config, write_config)


def capf(*args: str, timeout: float = 400, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def snapshot(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_extract_real_sample_with_hrnet_w32(tmp_path):
    data = SHARED_DATA / "h36m"
    args = ["extract", "--config", "configs/extract/h36m_hrnet_w32.py", "--data-root", str(data),
            "--random-init", "--cache-dir", str(tmp_path), "--quiet"]
    run = capf(*args)
    assert run.returncode == 0, run.stderr
    assert "extracted 4 of 4 frames" in run.stdout and "KiB/frame" in run.stdout
    (path,) = tmp_path.glob("h36m-hrnet_w32-256x192-*.zarr")
    store = FeatureStore.open(path)
    np.testing.assert_allclose(store.read("gt3d"), np.load(data / "test_h36m_body3d.npz")["S"][..., :3] * 1000,
                               rtol=1e-6)
    assert store.read("kp2d").shape == (4, 17, 2)
    assert [store.group[f"feat/{i}"].shape for i in range(4)] == [
        (4, 32, 64, 48), (4, 64, 32, 24), (4, 128, 16, 12), (4, 256, 8, 6)]
    again = capf(*args)
    assert again.returncode == 0 and "cache hit" in again.stdout and "no detector work" in again.stdout
    listing = capf("cache", "ls", "--cache-dir", str(tmp_path))
    assert path.name in listing.stdout and "True" in listing.stdout
    assert "ok (" in capf("cache", "verify", str(path)).stdout


@pytest.mark.slow
def test_killed_extraction_resumes_to_a_byte_identical_store(h36m_root, tmp_path):
    """SIGKILL a real extraction after its first shard is done; the rerun finishes the rest and
    the store equals one written without interruption."""
    data = make_h36m_copy(h36m_root, tmp_path / "data", repeats=4)  # 16 frames
    cfg = slim_extract_config(shard_frames=2, detector={
        "name": "hrnet_w32", "config": "mmpose::body_2d_keypoint/topdown_heatmap/coco/"
                                       "td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"},
                              runtime={"batch_size": 1})
    config = write_config(tmp_path / "extract.py", cfg)
    args = ["extract", "--config", str(config), "--data-root", str(data), "--random-init", "--quiet"]

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "pipeline", *args, "--cache-dir", str(killed_dir)],
                               cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    done = 0
    while time.time() < deadline and process.poll() is None:
        stores = list(killed_dir.glob("*.zarr"))
        if stores:
            try:
                done = int(FeatureStore.open(stores[0], allow_incomplete=True).done_mask().sum())
            except Exception:
                done = 0
            if done >= 1:
                break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(60)
    (store_path,) = killed_dir.glob("*.zarr")
    partial = FeatureStore.open(store_path, allow_incomplete=True)
    done_before = int(partial.done_mask().sum())
    assert 1 <= done_before < partial.spec.num_shards, "the kill must land mid-run"
    with pytest.raises(StoreError, match="incomplete store"):
        FeatureStore.open(store_path)

    resumed = capf(*args, "--cache-dir", str(killed_dir))
    assert resumed.returncode == 0, resumed.stderr
    assert f"extracted {16 - 2 * done_before} of 16 frames" in resumed.stdout
    clean = capf(*args, "--cache-dir", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    (clean_path,) = (tmp_path / "clean").glob("*.zarr")
    assert clean_path.name == store_path.name
    assert arrays_of(store_path) == arrays_of(clean_path)


@pytest.fixture
def existing_store(h36m_copy, tmp_path):
    """A complete store for h36m_copy, and the config that made it."""
    config = write_config(tmp_path / "extract.py", slim_extract_config(shard_frames=6))
    cache_dir = tmp_path / "cache"
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_copy),
                                       "--random-init", "--cache-dir", str(cache_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    return config, cache_dir


def break_missing_image(root: Path) -> str:
    victim = sorted(root.rglob("*.jpg"))[3]
    victim.unlink()
    return f"{victim}: image not found"


def break_npz(root: Path) -> str:
    path = root / "test_h36m_body3d.npz"
    ann = dict(np.load(path))
    del ann["part"]
    np.savez(path, **ann)
    return f"{path}: malformed annotation: missing key 'part'"


def break_box(root: Path) -> str:
    path = root / "test_h36m_body3d.npz"
    ann = dict(np.load(path))
    ann["center"][2] = [-3000.0, -3000.0]
    np.savez(path, **ann)
    return "lies wholly outside its 1000x1002 image"


@pytest.mark.parametrize("breakage", [break_missing_image, break_npz, break_box])
def test_bad_input_is_one_line_and_leaves_the_store_alone(existing_store, h36m_copy, breakage):
    config, cache_dir = existing_store
    before = snapshot(cache_dir)
    expected = breakage(h36m_copy)
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_copy),
                                       "--random-init", "--cache-dir", str(cache_dir), "--quiet"])
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and expected in lines[0]
    assert snapshot(cache_dir) == before


@pytest.mark.slow
def test_unknown_config_exits_non_zero_with_its_name(tmp_path):
    run = capf("extract", "--config", "configs/extract/nope.py", "--data-root", str(tmp_path), "--random-init")
    assert run.returncode != 0
    assert run.stderr.strip().splitlines() == ["Error: configs/extract/nope.py: config not found"]


def test_unknown_detector_config_is_named(h36m_root, tmp_path):
    config = write_config(tmp_path / "x.py", slim_extract_config(detector={"config": "configs/detectors/nope.py"}))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--random-init", "--cache-dir", str(tmp_path)])
    assert result.exit_code != 0 and "configs/detectors/nope.py: detector config not found" in result.output


def test_missing_checkpoint_is_named(h36m_root, tmp_path):
    config = write_config(tmp_path / "x.py", slim_extract_config())
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--checkpoint", str(tmp_path / "w.pth"), "--cache-dir", str(tmp_path)])
    assert result.exit_code != 0 and f"{tmp_path / 'w.pth'}: checkpoint not found" in result.output
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--cache-dir", str(tmp_path)])
    assert result.exit_code != 0 and "no checkpoint given" in result.output


def test_checkpoint_with_wrongly_shaped_tensors_is_one_line_naming_it(h36m_root, tmp_path):
    checkpoint = mpii_headed_checkpoint(tmp_path / "mpii.pth")
    config = write_config(tmp_path / "x.py", slim_extract_config())
    cache_dir = tmp_path / "cache"
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--checkpoint", str(checkpoint), "--cache-dir", str(cache_dir), "--quiet"])
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)  # click's one line, no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {checkpoint}: "), result.output
    # no store was laid out; only the remembered checksum of the (readable) checkpoint file is there
    assert not cache_dir.exists() or [p.name for p in cache_dir.iterdir()] == [MEMO_NAME]
