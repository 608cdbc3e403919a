"""`make bench ARGS="--scale N"`: what the cache costs at dataset scale, measured on an N-frame store.

The store has HRNet-W32's four levels (synthetic values: read costs do not depend on them, and no
detector runs). Per N it records, into ``bench/scale.json`` (one entry per N and feature type):

* ``open_seconds``: ``FeatureStore.open`` (metadata only) and ``dataset_seconds``: building the
  training dataset over all N frames (reads and normalises the small per-frame arrays);
* ``worker_memory``: resident memory of each loader worker after ``memory_batches`` random
  batches: RSS, PSS, USS and anonymous memory from ``/proc/<pid>/smaps_rollup``. What a worker
  allocates (``anon``) must not grow with N beyond the shard indexes it has read (16 B per frame
  per array); RSS and USS also count the mapped shards' page-cache pages it touched;
* ``loader_vs_memory``: lifter training samples/s reading lazily / fed from memory, with the crc32c
  check on and off;
* ``epoch``: one full pass over all N frames in shuffled sorted batches through the loader (no
  model; codes handed over undequantised, as to a GPU): seconds and frames/s, the first pass
  checking every chunk's crc32c, the second finding every chunk verified;
* ``per_shard``: the cost of mapping one shard (index read and checked) and the bytes it keeps,
  from which ``extrapolate_full_dataset`` scales to Human3.6M's 1.56 M + 0.54 M frames.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from cache.store import FeatureStore

H36M_TRAIN_FRAMES = 1_559_752  # every frame at 50 fps, 4 cameras, S1 S5 S6 S7 S8
H36M_TEST_FRAMES = 543_344  # S9 S11


def _smaps_rollup(pid: int) -> dict[str, int]:
    """RSS, PSS, USS (private clean + dirty) and anonymous memory of a process in bytes. USS counts
    the page-cache pages of mapped shards that only this process touched; ``anon`` is what the
    process itself allocated (buffers, indexes, Python objects): the figure that must stay flat."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name.strip()] = int(value.split()[0]) * 1024
    return {"rss": fields.get("Rss", 0), "pss": fields.get("Pss", 0),
            "uss": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0),
            "anon": fields.get("Anonymous", 0)}


def _batches(frames: int, batch: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(frames)
    return [np.sort(order[i:i + batch]) for i in range(0, frames, batch)]


def worker_memory(store_path: Path, *, batch: int, workers: int, batches: int) -> dict:
    """Memory of each loader worker and of the main process after ``batches`` random batches."""
    from stages.lift.dataset import CacheBatchDataset, make_loader

    store = FeatureStore.open(store_path)
    names = [level.name for level in store.levels]
    dataset = CacheBatchDataset(store_path, np.arange(store.num_frames), names, dequantize=False)
    plan = _batches(store.num_frames, batch, seed=1)[:batches + workers * 2]
    iterator = iter(make_loader(dataset, plan, workers=workers, pin_memory=False))
    for _ in range(batches):
        next(iterator)
    children = [p.pid for p in multiprocessing.active_children()]
    out = {"workers": [_smaps_rollup(pid) for pid in children], "main": _smaps_rollup(multiprocessing.current_process().pid)}
    del iterator
    return out


def epoch_read(store_path: Path, *, batch: int, workers: int, verify: bool) -> dict:
    """Seconds and frames/s of one pass over every frame (two passes: the first checks every chunk).

    The loader hands over what a GPU training receives: an int8 store's codes and scales, left for
    ``to_device`` to dequantise on the device (numpy dequantisation on one CPU core runs at only
    ~120-230 W32 frames/s here, so CPU training pays it inside its far slower model step)."""
    from stages.lift.dataset import CacheBatchDataset, make_loader

    store = FeatureStore.open(store_path)
    dataset = CacheBatchDataset(store_path, np.arange(store.num_frames), [lv.name for lv in store.levels],
                                verify=verify, dequantize=False)
    passes = []
    for epoch in range(2):
        tick = time.perf_counter()
        for _ in make_loader(dataset, _batches(store.num_frames, batch, seed=epoch), workers=workers,
                             pin_memory=False):
            pass
        seconds = time.perf_counter() - tick
        passes.append({"seconds": seconds, "fps": store.num_frames / seconds})
    return {"first": passes[0], "second": passes[1]}


def per_shard_costs(store_path: Path, shards: int = 64) -> dict:
    """Seconds to map one shard of every level (index read and crc32c-checked) and the bytes of
    shard index a reader keeps per shard."""
    from cache.readers import ShardMmapReader

    store = FeatureStore.open(store_path)
    readers = [ShardMmapReader(store.path / "feat" / level.name) for level in store.levels]
    picked = np.linspace(0, store.spec.num_shards - 1, min(shards, store.spec.num_shards)).astype(int)
    tick = time.perf_counter()
    for shard in picked:
        for reader in readers:
            reader._shard(int(shard))
    seconds = (time.perf_counter() - tick) / len(picked)
    return {"map_seconds": seconds, "index_bytes": 16 * store.spec.shard_frames * len(readers),
            "shard_frames": store.spec.shard_frames}


def measure_scale(store_path: Path, *, batch: int, workers: int, steps: int, device: str,
                  memory_batches: int = 8, epoch_batch: int = 512) -> dict:
    from pipeline.bench import bench_loader

    tick = time.perf_counter()
    store = FeatureStore.open(store_path)
    open_seconds = time.perf_counter() - tick
    from stages.lift.dataset import CacheBatchDataset

    tick = time.perf_counter()
    CacheBatchDataset(store_path, np.arange(store.num_frames), [lv.name for lv in store.levels])
    dataset_seconds = time.perf_counter() - tick
    feat_bytes = sum(f.stat().st_size for folder in ("feat", "feat_scale") for f in (store.path / folder).rglob("*")
                     if f.is_file())
    return {
        "frames": store.num_frames,
        "feature_dtype": store.spec.feature_dtype,
        "bytes_per_frame": store.size_on_disk() / store.num_frames,
        "feature_bytes_per_frame": feat_bytes / store.num_frames,
        "open_seconds": open_seconds,
        "dataset_seconds": dataset_seconds,
        "worker_memory": worker_memory(store_path, batch=epoch_batch, workers=workers, batches=memory_batches),
        "loader_vs_memory": {
            "verified": bench_loader(store_path, batch=batch, steps=steps, workers=(workers,), device=device,
                                     verify=True),
            "unverified": bench_loader(store_path, batch=batch, steps=steps, workers=(workers,), device=device,
                                       verify=False)},
        "epoch": {"verified": epoch_read(store_path, batch=epoch_batch, workers=workers, verify=True)},
        "per_shard": per_shard_costs(store_path),
    }


def extrapolate_full_dataset(entries: list[dict]) -> dict:
    """Full Human3.6M (train at frame step 1, 2, 5; test every frame) from the largest measured N:
    linear per-frame costs (dataset build, epoch time, bytes) and per-shard index memory."""
    largest = max(entries, key=lambda e: e["frames"])
    n = largest["frames"]
    per_frame_build = largest["dataset_seconds"] / n
    epoch_fps = largest["epoch"]["verified"]["second"]["fps"]
    shard = largest["per_shard"]
    out = {"from_frames": n, "feature_dtype": largest["feature_dtype"]}
    for step in (1, 2, 5):
        frames = -(-H36M_TRAIN_FRAMES // step) + H36M_TEST_FRAMES
        shards = -(-frames // shard["shard_frames"])
        out[f"step{step}"] = {
            "frames": frames,
            "store_bytes": largest["bytes_per_frame"] * frames,
            "dataset_seconds": per_frame_build * frames,
            "epoch_seconds_warm": frames / epoch_fps,
            "map_all_shards_seconds": shards * shard["map_seconds"],
            "index_bytes_if_all_mapped": shards * shard["index_bytes"],
        }
    return out


def run_scale_bench(work: Path, out_json: Path, *, frames: int, feature_dtype: str = "int8",
                    device: str = "cpu", batch: int = 64, workers: int = 2, steps: int = 2,
                    memory_batches: int = 8, epoch_batch: int = 512) -> dict:
    """Write (or reuse) an N-frame W32 store under ``work``, measure it, merge into ``out_json``."""
    from pipeline.bench import synthetic_w32_store

    path = Path(work) / f"scale-{feature_dtype}-{frames}.zarr"
    tick = time.perf_counter()
    if not (path.exists() and FeatureStore.open(path, allow_incomplete=True).is_complete()):
        synthetic_w32_store(path, frames=frames, feature_dtype=feature_dtype, progress=True)
    write_seconds = time.perf_counter() - tick
    entry = {**measure_scale(path, batch=batch, workers=workers, steps=steps, device=device,
                             memory_batches=memory_batches, epoch_batch=epoch_batch),
             "write_seconds": write_seconds, "device": device, "batch": batch, "workers": workers,
             "torch_threads": torch.get_num_threads()}
    results = json.loads(out_json.read_text()) if out_json.exists() else {"entries": []}
    results["entries"] = [e for e in results["entries"]
                          if (e["frames"], e["feature_dtype"]) != (frames, feature_dtype)] + [entry]
    results["entries"].sort(key=lambda e: (e["feature_dtype"], e["frames"]))
    results["full_dataset"] = extrapolate_full_dataset([e for e in results["entries"]
                                                        if e["feature_dtype"] == feature_dtype])
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2))
    return entry
