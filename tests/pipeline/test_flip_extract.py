"""`capf extract --flip`: the detector's maps of the mirrored crops added to a store (issue 9)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cache.store import FeatureStore
from stages.detector.topdown import TopdownDetector
from stages.extract.sources import build_source, load_frame
from stages.extract.settings import extract_settings
from pipeline.config import load_config
from tests.helpers import PROJECT_ROOT, SHARED_DATA, make_h36m_copy, slim_extract_config, write_config

W32_CONFIG = "configs/extract/h36m_hrnet_w32.py"
FLIP_NAMES = ("feat_flip", "flip_done", "joint_feat_flip")
PASS_LOCKS = "claims_pass"  # empty flock files of the passes after the shards: coordination, not data


def capf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=400)


def array_files(store: Path) -> dict[str, str]:
    """sha256 of every file of the store's arrays except the flip pass's own (and the group's zarr.json,
    whose attributes record the flip pass)."""
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file() and p.relative_to(store).parts[0] not in (*FLIP_NAMES, PASS_LOCKS)
            and p.relative_to(store) != Path("zarr.json")}


@pytest.fixture(scope="module")
def w32_flip_store(tmp_path_factory):
    """The bundled four Human3.6M frames extracted with HRNet-W32 (random init), then again with
    --flip, as `make extract RANDOM_INIT=1` and `make extract RANDOM_INIT=1 FLIP=1` run it."""
    cache = tmp_path_factory.mktemp("flip-cache")
    args = ["extract", "--config", W32_CONFIG, "--data-root", str(SHARED_DATA / "h36m"), "--random-init",
            "--cache-dir", str(cache), "--quiet"]
    first = capf(*args)
    assert first.returncode == 0, first.stderr
    (path,) = cache.glob("h36m-hrnet_w32-256x192-*.zarr")
    before, key = array_files(path), FeatureStore.open(path).key
    assert not FeatureStore.open(path).has_flip_features()
    second = capf(*args, "--flip")
    assert second.returncode == 0, second.stderr
    return path, before, key, second.stdout


@pytest.mark.slow
def test_flip_adds_mirrored_crop_maps_and_leaves_the_store_byte_identical(w32_flip_store):
    path, before, key, out = w32_flip_store
    assert "extracted 0 + 4 mirrored of 4 frames" in out and "flip features complete" in out
    store = FeatureStore.open(path)
    assert store.key == key and store.is_complete() and store.has_flip_features()
    assert array_files(path) == before  # no unflipped array was rewritten
    for level in store.levels:
        plain, flip = store.read(f"feat/{level.name}"), store.read(f"feat_flip/{level.name}")
        assert flip.shape == plain.shape == (4, level.channels, level.height, level.width)
        assert flip.dtype == plain.dtype == np.float16
        assert store.group[f"feat_flip/{level.name}"].metadata.chunk_grid == \
            store.group[f"feat/{level.name}"].metadata.chunk_grid
        mirrored = torch.flip(torch.from_numpy(plain.astype(np.float32)), dims=[-1]).numpy()
        relative = np.linalg.norm(flip.astype(np.float32) - mirrored) / np.linalg.norm(mirrored)
        assert relative > 0.05, (level.name, relative)  # the detector's map of the mirrored crop is another map
    again = capf("extract", "--config", W32_CONFIG, "--data-root", str(SHARED_DATA / "h36m"), "--random-init",
                 "--cache-dir", str(path.parent), "--quiet", "--flip")
    assert "cache hit" in again.stdout and "flip features complete" in again.stdout
    assert "flip features: yes" in capf("cache", "verify", str(path)).stdout


@pytest.mark.slow
def test_a_flip_map_is_the_detectors_forward_of_the_mirrored_crop(w32_flip_store):
    """Independent of the extractor's batch path: mirror the raw crop (uint8, before normalisation)
    and run the same detector on it."""
    path, *_ = w32_flip_store
    cfg = extract_settings(load_config(PROJECT_ROOT / W32_CONFIG))
    detector = TopdownDetector(cfg["detector"]["config"], None, random_init=True, seed=cfg["detector"]["seed"])
    index = build_source(cfg["dataset"], SHARED_DATA / "h36m").frame_index()
    store = FeatureStore.open(path)
    for frame in (0, 3):
        packed = detector.crop(load_frame(index.root, index.image_names[frame]), index.bboxes_xyxy[frame])
        mirrored = {"inputs": [packed["inputs"].flip(-1)], "data_samples": [packed["data_samples"]]}
        maps = detector.backbone_maps(mirrored)
        for level, expected in zip(store.levels, maps):
            stored = store.read(f"feat_flip/{level.name}")[frame].astype(np.float32)
            np.testing.assert_allclose(stored, expected[0].to(torch.float16).float().numpy(), atol=2e-3, rtol=2e-3)


def _slim_args(data: Path, cache: Path, config: Path, *extra: str) -> list[str]:
    return ["extract", "--config", str(config), "--data-root", str(data), "--random-init", "--cache-dir", str(cache),
            "--quiet", *extra]


def cli(*args: str):
    """The `capf` CLI in this process (the slim detector's runs are short; imports are paid once)."""
    from click.testing import CliRunner

    from pipeline.cli import main

    return CliRunner().invoke(main, list(args))


@pytest.mark.slow
def test_an_interrupted_flip_pass_resumes_and_cache_ls_shows_it(h36m_root, tmp_path):
    """Two shards; a flip pass stopped after one leaves the store complete (flips unusable, `ls`
    shows 1/2); the rerun writes only the other shard and equals a flip pass run in one go."""
    data = make_h36m_copy(h36m_root, tmp_path / "data")
    config = write_config(tmp_path / "extract.py", slim_extract_config(shard_frames=2))
    partial, whole = tmp_path / "partial", tmp_path / "whole"
    assert cli(*_slim_args(data, partial, config)).exit_code == 0
    assert " no " in cli("cache", "ls", "--cache-dir", str(partial)).output
    stopped = cli(*_slim_args(data, partial, config, "--flip", "--max-shards", "1"))
    assert stopped.exit_code == 0, stopped.output
    assert "flip features incomplete" in stopped.output
    (path,) = partial.glob("*.zarr")
    store = FeatureStore.open(path)  # readers still take the store: it is complete
    assert store.is_complete() and not store.has_flip_features() and not store.has("joint_feat_flip")
    assert store.flip_done_mask().tolist() == [True, False]
    assert " 1/2 " in cli("cache", "ls", "--cache-dir", str(partial)).output
    resumed = cli(*_slim_args(data, partial, config, "--flip"))
    assert "extracted 0 + 2 mirrored of 4 frames" in resumed.output, resumed.output
    assert " yes " in cli("cache", "ls", "--cache-dir", str(partial)).output
    assert not (path / "claims_flip").exists()
    one_go = cli(*_slim_args(data, whole, config, "--flip"))  # a new store: both passes in one run
    assert "extracted 4 + 4 mirrored of 4 frames" in one_go.output, one_go.output
    (other,) = whole.glob("*.zarr")
    resumed_store, whole_store = FeatureStore.open(path), FeatureStore.open(other)
    for level in resumed_store.levels:
        for name in (f"feat/{level.name}", f"feat_flip/{level.name}", f"joint_feat_flip/{level.name}"):
            assert np.array_equal(resumed_store.read(name), whole_store.read(name)), name  # extraction adds the
            # mirrored crops' joint features once the flip pass completes
    converted = cli("cache", "convert", str(path), "--dtype", "int8", "--cache-dir", str(tmp_path / "int8"))
    assert converted.exit_code == 0, converted.output
    (int8,) = (tmp_path / "int8").glob("*.zarr")
    assert FeatureStore.open(int8).has_flip_features()  # the flip maps travel with a conversion


@pytest.mark.slow
def test_int8_store_gets_flip_codes_and_scales(h36m_root, tmp_path):
    data = make_h36m_copy(h36m_root, tmp_path / "data")
    config = write_config(tmp_path / "extract.py", slim_extract_config(shard_frames=2, cache={"dtype": "int8"}))
    run = cli(*_slim_args(data, tmp_path / "c", config, "--flip"))
    assert run.exit_code == 0, run.output
    (path,) = (tmp_path / "c").glob("*.zarr")
    store = FeatureStore.open(path)
    assert store.has_flip_features()
    for level in store.levels:
        assert store.read(f"feat_flip/{level.name}").dtype == np.uint8
        assert store.read(f"feat_flip_scale/{level.name}").shape == store.read(f"feat_scale/{level.name}").shape
    assert "flip features: yes" in cli("cache", "verify", str(path)).output


@pytest.mark.slow
def test_two_gloo_ranks_write_the_flip_maps_of_one_process(h36m_root, tmp_path):
    """torchrun ranks share the flip pass's shards as they share the first pass's: the store equals
    one process's, flip maps included."""
    import os

    from tests.pipeline.test_distributed_extract import extract_command

    data = make_h36m_copy(h36m_root, tmp_path / "data", repeats=2)  # 8 frames, 4 shards
    config = write_config(tmp_path / "extract.py", slim_extract_config(
        shard_frames=2, runtime={"batch_size": 1, "num_workers": 0}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for nproc in (2, 1):
        run = subprocess.run([*extract_command(config, data, tmp_path / str(nproc), nproc), "--flip"],
                             cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=400)
        assert run.returncode == 0, run.stderr[-2000:]
    (two,), (one,) = (tmp_path / "2").glob("*.zarr"), (tmp_path / "1").glob("*.zarr")
    two_store, one_store = FeatureStore.open(two), FeatureStore.open(one)
    assert two_store.has_flip_features() and one_store.has_flip_features()
    for level in one_store.levels:
        for name in (f"feat/{level.name}", f"feat_flip/{level.name}"):
            assert np.array_equal(two_store.read(name), one_store.read(name)), name
