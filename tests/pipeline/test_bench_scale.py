"""The scale benchmark's store and measurements, at toy scale."""

import json

import numpy as np
import pytest

from cache.store import FeatureStore
from cache.verify import verify_store
from pipeline.bench import synthetic_w32_store


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


@pytest.mark.slow
def test_scale_bench_writes_its_figures(tmp_path):
    from pipeline.bench_scale import run_scale_bench

    out = tmp_path / "scale.json"
    run_scale_bench(tmp_path / "work", out, frames=128, feature_dtype="int8", batch=16, workers=1, steps=1,
                    memory_batches=2, epoch_batch=64)
    results = json.loads(out.read_text())
    (entry,) = results["entries"]
    assert entry["frames"] == 128 and entry["feature_dtype"] == "int8"
    assert entry["worker_memory"]["workers"] and all(w["uss"] > 0 for w in entry["worker_memory"]["workers"])
    assert set(entry["loader_vs_memory"]) == {"verified", "unverified"} and set(entry["epoch"]) == {"verified"}
    assert entry["epoch"]["verified"]["first"]["fps"] > 0
    assert results["full_dataset"]["step1"]["frames"] == 1_559_752 + 543_344
