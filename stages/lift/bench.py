"""Loader throughput: frames/s of random training batches from a store, lazy or in memory.

``python -m stages.lift.bench STORE [--workers 0 2 --batch-size 512]`` prints one JSON line per
setting (`make bench` can call ``loader_throughput`` directly). The first batch of each setting is
not timed: it pays for worker start-up and for mapping the shard files.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cache.store import FeatureStore
from stages.lift.dataset import CacheBatchDataset, FrameBatchSampler, make_loader


def loader_throughput(store_path: Path, level_names: list[str] | None = None, *, batch_size: int = 512,
                      batches: int = 8, workers: int = 0, in_memory: bool = False, reader: str = "auto",
                      pin_memory: bool = False) -> dict:
    """Time ``batches`` shuffled batches (after one untimed) through the training loader."""
    store = FeatureStore.open(store_path)
    names = level_names or [level.name for level in store.levels]
    dataset = CacheBatchDataset(store.path, np.arange(store.num_frames), names, in_memory=in_memory, reader=reader)
    sampler = FrameBatchSampler(len(dataset), batch_size, shuffle=True)
    frames, started, done, epoch = 0, None, 0, 0
    while done < batches + 1:
        sampler.set_epoch(epoch)
        for batch in make_loader(dataset, sampler, workers=workers, pin_memory=pin_memory):
            if started is None:
                started = time.perf_counter()
            else:
                frames += len(batch["pos"])
            done += 1
            if done == batches + 1:
                break
        epoch += 1
    seconds = time.perf_counter() - started
    return {"mode": "in-memory" if in_memory else f"lazy-{type(dataset.readers[0]).__name__}",
            "workers": workers, "batch_size": batch_size, "frames_per_s": frames / seconds, "frames": frames,
            "bytes_per_frame": dataset.memory_bytes() // max(len(dataset), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", type=Path)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--readers", nargs="+", default=["mmap", "tensorstore"])
    parser.add_argument("--in-memory", action="store_true", help="also time the in-memory dataset")
    args = parser.parse_args()
    settings = [(reader, False) for reader in args.readers] + ([("auto", True)] if args.in_memory else [])
    for reader, in_memory in settings:
        for workers in args.workers:
            print(json.dumps(loader_throughput(args.store, batch_size=args.batch_size, batches=args.batches,
                                               workers=workers, in_memory=in_memory, reader=reader)), flush=True)


if __name__ == "__main__":
    main()
