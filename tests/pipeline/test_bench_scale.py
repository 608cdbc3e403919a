"""The scale benchmark's store and measurements, checked as relations: every reader returns the same
bytes (so their speeds compare equal work), verified and unverified reads agree, what a loader worker
allocates does not grow with the store's frames, and the full-dataset figures scale with frames."""

import json

import numpy as np
import pytest

from cache.store import FeatureStore
from cache.verify import verify_store
from pipeline.bench import synthetic_w32_store
from pipeline.bench_scale import H36M_TEST_FRAMES, H36M_TRAIN_FRAMES, extrapolate_full_dataset, worker_memory
from stages.lift.dataset import CacheBatchDataset


def test_synthetic_store_with_copied_shards_is_an_ordinary_int8_store(tmp_path):
    path = synthetic_w32_store(tmp_path / "s.zarr", frames=3 * 16 + 5, shard_frames=16, feature_dtype="int8")
    store = FeatureStore.open(path)
    report = verify_store(path)
    assert report.ok, report.errors
    zarr_values = store.group["feat/2"][[1, 33, 49]]  # zarr-python decodes shards 0, 2 (copied) and 3 (partial)
    np.testing.assert_array_equal(zarr_values[0], zarr_values[1])
    np.testing.assert_array_equal(zarr_values[0], zarr_values[2])
    reader = store.reader("2", "mmap")
    np.testing.assert_array_equal(reader.read(np.array([1, 33, 49])), zarr_values)


def test_every_reader_and_verified_or_not_return_the_same_bytes(tmp_path):
    """What `make bench` times side by side is the same work: the mmap reader (crc32c on and off),
    tensorstore and zarr-python return identical frames, and so do the verified and unverified
    training datasets."""
    path = synthetic_w32_store(tmp_path / "s.zarr", frames=40, shard_frames=16)
    store = FeatureStore.open(path)
    frames = np.array([0, 3, 17, 18, 39])
    for level in store.levels:
        reference = np.asarray(store.group[f"feat/{level.name}"][frames])
        for kind, verify in (("mmap", True), ("mmap", False), ("tensorstore", True), ("zarr", True)):
            got = store.reader(level.name, kind, verify=verify).read(frames)
            assert got.tobytes() == reference.tobytes(), (level.name, kind, verify)
    names = [lv.name for lv in store.levels]
    checked = CacheBatchDataset(path, np.arange(40), names, verify=True)[frames]
    unchecked = CacheBatchDataset(path, np.arange(40), names, verify=False)[frames]
    for a, b in zip(checked["feats"], unchecked["feats"]):
        assert a.numpy().tobytes() == b.numpy().tobytes()


@pytest.mark.slow
def test_a_workers_own_memory_does_not_grow_with_the_stores_frames(tmp_path):
    """The same batches through one loader worker on a store 16x longer: the worker's anonymous memory
    (what it allocated, not the mapped shards' page cache) stays within allocator and copy-on-write
    noise (about 20 MiB here), far below the 180 MiB of maps the extra frames hold. A reader that
    kept what it had read, or loaded whole arrays, would grow by about that much."""
    small = synthetic_w32_store(tmp_path / "small.zarr", frames=64, shard_frames=32, feature_dtype="int8")
    large = synthetic_w32_store(tmp_path / "large.zarr", frames=1024, shard_frames=32, feature_dtype="int8")
    anon = {}
    for name, path in (("small", small), ("large", large)):
        (worker,) = worker_memory(path, batch=32, workers=1, batches=2)["workers"]
        anon[name] = worker["anon"]
    store = FeatureStore.open(large)
    extra_map_bytes = (1024 - 64) * store.size_on_disk() / 1024
    assert anon["large"] - anon["small"] < 0.3 * extra_map_bytes, (anon, extra_map_bytes)


def test_the_full_dataset_figures_scale_with_frames():
    entry = {"frames": 1000, "feature_dtype": "int8", "dataset_seconds": 2.0, "bytes_per_frame": 200_000.0,
             "epoch": {"verified": {"second": {"fps": 500.0}}},
             "per_shard": {"map_seconds": 0.01, "index_bytes": 16 * 256 * 4, "shard_frames": 256}}
    smaller = {**entry, "frames": 10}
    full = extrapolate_full_dataset([smaller, entry])  # the largest measured N is the one used
    assert full["from_frames"] == 1000
    assert full["step1"]["frames"] == H36M_TRAIN_FRAMES + H36M_TEST_FRAMES
    for step in (1, 2, 5):
        figures = full[f"step{step}"]
        assert figures["frames"] == -(-H36M_TRAIN_FRAMES // step) + H36M_TEST_FRAMES
        assert figures["store_bytes"] == pytest.approx(200_000.0 * figures["frames"])
        assert figures["dataset_seconds"] == pytest.approx(2.0 / 1000 * figures["frames"])
        assert figures["epoch_seconds_warm"] == pytest.approx(figures["frames"] / 500.0)
    assert full["step1"]["store_bytes"] > full["step2"]["store_bytes"] > full["step5"]["store_bytes"]


@pytest.mark.slow
def test_scale_bench_writes_its_figures(tmp_path):
    from pipeline.bench_scale import run_scale_bench

    out = tmp_path / "scale.json"
    run_scale_bench(tmp_path / "work", out, frames=128, feature_dtype="int8", batch=16, workers=1, steps=1,
                    memory_batches=2, epoch_batch=64)
    results = json.loads(out.read_text())
    (entry,) = results["entries"]
    assert entry["frames"] == 128 and entry["feature_dtype"] == "int8"
    assert set(entry["loader_vs_memory"]) == {"verified", "unverified"} and set(entry["epoch"]) == {"verified"}
    first, second = entry["epoch"]["verified"]["first"], entry["epoch"]["verified"]["second"]
    for figures in (first, second):  # frames/s is the frames over the seconds measured
        assert figures["fps"] == pytest.approx(128 / figures["seconds"])
    assert entry["bytes_per_frame"] >= entry["feature_bytes_per_frame"]  # the store holds the maps and more
    assert results["full_dataset"] == extrapolate_full_dataset(results["entries"])
