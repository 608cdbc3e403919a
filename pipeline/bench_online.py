"""`cache_vs_online_backbone`: what the feature cache buys over the authors' design.

The authors' training crops the raw frames and runs the frozen HRNet-W32 on every crop at every
step; CAPF reads the same features from the cache. This measures training samples/s of one lifter
(the full CA-PF with HRNet-W32 levels) both ways, same batches, same device, interleaved step by
step so the noise of a shared machine hits both alike:

* cache: the batch is read lazily from the store by the training loader (``make_loader``);
* online: the batch's image crops are already decoded and cropped in memory (the best case for
  the online design: no JPEG decode or affine warp is charged to it), normalised by mmpose's data
  preprocessor and passed through the frozen backbone under ``no_grad``; the lifter then trains on
  the backbone's own maps.

The ratio is cache samples/s / online samples/s. The 2D input and the reference points are the
store's in both (the authors, too, read precomputed 2D joints).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from cache.store import FeatureStore


def bench_cache_vs_online(store_path: Path, crops: list[dict], detector, *, batch: int, steps: int,
                          device: str, workers: int | str = "auto") -> dict:
    """Samples/s of lifter training from the cache vs with the frozen backbone run online.

    Args:
        store_path: a complete store extracted by ``detector`` from the frames of ``crops``.
        crops: per store frame, mmpose's packed crop (``inputs`` uint8 (3, H, W), ``data_samples``).
        detector: the ``TopdownDetector`` that made the store (its backbone runs online).
    """
    from pipeline.bench import _TrainingStep
    from stages.lift.dataset import CacheBatchDataset, make_loader

    store = FeatureStore.open(store_path)
    frames = np.arange(store.num_frames)
    names = [level.name for level in store.levels]
    step = _TrainingStep(torch.device(device))  # the full W32 model, `capf train`'s step (AMP, flip)
    rng = np.random.default_rng(0)
    plan = [np.sort(rng.choice(len(frames), size=min(batch, len(frames)), replace=False)) for _ in range(steps + 1)]
    dataset = CacheBatchDataset(store_path, frames, names)
    loader = iter(make_loader(dataset, plan, workers=workers, pin_memory=device.startswith("cuda")))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def online_step(positions: np.ndarray, cached: dict) -> None:
        packed = {"inputs": [crops[i]["inputs"] for i in positions],
                  "data_samples": [crops[i]["data_samples"] for i in positions]}
        maps = detector.backbone_maps(packed)  # frozen: no_grad inside
        step({**cached, "feats": maps})  # the store's 2D inputs and targets, the backbone's own maps

    def cache_step(cached: dict) -> None:
        step(cached)

    first = next(loader)  # warm-up both paths (worker start, shard maps, backbone kernels)
    cache_step(first)
    online_step(plan[0], first)
    online_seconds = cache_seconds = 0.0
    seen = 0
    for positions in plan[1:]:
        tick = time.perf_counter()
        cached = next(loader)  # the loader's wait is part of the cache path's cost
        cache_step(cached)
        sync()
        cache_seconds += time.perf_counter() - tick
        tick = time.perf_counter()
        online_step(positions, cached)
        sync()
        online_seconds += time.perf_counter() - tick
        seen += len(positions)
    cache_sps, online_sps = seen / cache_seconds, seen / online_seconds
    return {"ratio": cache_sps / online_sps, "cache_sps": cache_sps, "online_sps": online_sps,
            "batch": int(len(plan[0])), "steps": steps}
