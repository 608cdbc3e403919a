"""Stage one end to end: frame index -> content key -> (cache hit | resume | new store) -> shards.

Overlap: image decode and mmpose's affine crop run in DataLoader workers, the detector forward runs
in the main process, and each finished shard is written by a background thread while the next
shard's batches run. Batches never span two shards, so a resumed run sees exactly the batches an
uninterrupted one saw and writes byte-identical arrays.

Shards are claimed one at a time (``stages.extract.shard_queue``), so any number of processes on one
store (torchrun ranks or independent `capf extract` jobs) share its pending shards; a process that
runs out of shards to claim waits for those others hold and takes over the shards of one that dies.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from cache.key import KeyInputs, frame_index_digest, store_name
from cache.quantize import FEATURE_DTYPES
from cache.store import FeatureStore, StoreError, StoreSpec, create_store
from stages.extract.detector import (CropPipeline, TopdownDetector, feature_config_digest, load_detector_config,
                                     verify_checkpoint)
from stages.extract.external2d import image_to_input, load_external_2d
from stages.extract.shard_queue import ShardQueue
from stages.extract.sources import FrameIndex, SourceError, build_source, load_frame

log = logging.getLogger(__name__)


@dataclass
class ExtractRequest:
    """Everything `capf extract` was asked to do. `config` is the extract config as a dict with
    `detector`, `dataset`, and optional `kp2d`, `cache`, `runtime` sections."""

    config: dict
    data_root: Path
    cache_dir: Path
    checkpoint: Path | None = None
    random_init: bool = False
    device: str = "auto"
    batch_size: int | None = None
    num_workers: int | None = None
    rank: int = 0
    world_size: int = 1
    max_shards: int | None = None  # stop after this many shards (tests; a deliberate partial run)
    progress: bool = True


@dataclass
class ExtractResult:
    path: Path
    num_frames: int
    cache_hit: bool
    shards_written: int
    frames_written: int
    seconds: float
    complete: bool
    bytes_per_frame: float = 0.0
    detector_seconds: float = 0.0
    loop_seconds: float = 0.0  # decode + crop + forward + writes, without model build and planning
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.cache_hit:
            return f"cache hit: {self.path} ({self.num_frames} frames, complete; no detector work)"
        rate = self.frames_written / self.loop_seconds if self.loop_seconds else 0.0
        state = "complete" if self.complete else "incomplete (re-run to resume)"
        return (f"extracted {self.frames_written} of {self.num_frames} frames in {self.loop_seconds:.1f} s "
                f"({rate:.1f} frames/s; {self.seconds:.1f} s with setup), "
                f"{self.bytes_per_frame / 1024:.1f} KiB/frame on disk, {state}: {self.path}")


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass
class ExtractPlan:
    """What is known before any model is built: the index, the key and where the store lives."""

    index: FrameIndex
    key_inputs: KeyInputs
    path: Path
    external_2d: tuple[np.ndarray, np.ndarray] | None


def plan_extraction(request: ExtractRequest) -> ExtractPlan:
    """Validate all inputs and compute the content key; touches no store (bad input fails here)."""
    cfg = request.config
    index = build_source(cfg["dataset"], request.data_root).frame_index()
    det_cfg = cfg["detector"]
    mm_cfg = load_detector_config(det_cfg["config"])
    if request.random_init:
        checkpoint_sha = f"random-init:{det_cfg.get('seed', 0)}"
    else:
        checkpoint_sha = verify_checkpoint(request.checkpoint, det_cfg.get("checkpoint_sha256"))
    feature_dtype = str(cfg.get("cache", {}).get("dtype", "float16"))
    if feature_dtype not in FEATURE_DTYPES:
        raise StoreError(f"cache.dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    kp2d_cfg = cfg.get("kp2d", {"source": "detector"})
    external, kp2d_source = None, "detector"
    if kp2d_cfg.get("source") == "external":
        joints, scores, kp2d_source = load_external_2d(Path(request.data_root) / kp2d_cfg["file"], index)
        external = (joints, scores)
    key_inputs = KeyInputs(
        dataset=index.dataset,
        frame_index_sha256=frame_index_digest(index.image_names, index.bboxes_xyxy),
        num_frames=len(index),
        detector_config_sha256=feature_config_digest(mm_cfg),
        checkpoint_sha256=checkpoint_sha,
        input_size_wh=tuple(int(v) for v in mm_cfg.codec["input_size"]),
        kp2d_source=kp2d_source,
        flip_test=bool(det_cfg.get("flip_test", False)),
        feature_dtype=feature_dtype,
    )
    name = store_name(index.dataset, det_cfg.get("name", Path(det_cfg["config"]).stem), key_inputs)
    return ExtractPlan(index, key_inputs, Path(request.cache_dir) / name, external)


class _CropDataset(Dataset):
    """Frame i -> mmpose's packed crop; errors come back as values so the main process can
    report them as one line naming the file (DataLoader would wrap them in a traceback)."""

    def __init__(self, index: FrameIndex, crop: CropPipeline):
        self.root, self.names, self.boxes, self.crop = index.root, index.image_names, index.bboxes_xyxy, crop

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> dict:
        try:
            packed = self.crop(load_frame(self.root, self.names[i]), self.boxes[i])
        except SourceError as error:
            return {"error": str(error)}
        return {**packed, "frame": i}


def _collate(items: list[dict]) -> dict:
    for item in items:
        if "error" in item:
            raise SourceError(item["error"])
    return {"inputs": [item["inputs"] for item in items], "data_samples": [item["data_samples"] for item in items],
            "frames": [item["frame"] for item in items]}


class _ClaimedBatches:
    """The loader's batch sampler: batches of the shards this process claims, claimed lazily as the
    loader prefetches; batches never span two shards."""

    def __init__(self, queue: ShardQueue, spec: StoreSpec, batch_size: int):
        self.queue, self.spec, self.batch_size = queue, spec, batch_size

    def __iter__(self):
        for shard in self.queue.claim_round():
            start, stop = self.spec.shard_bounds(shard)
            for s in range(start, stop, self.batch_size):
                yield list(range(s, min(s + self.batch_size, stop)))


def _open_or_create(plan: ExtractPlan, detector: TopdownDetector, request: ExtractRequest) -> FeatureStore:
    cache_cfg = request.config.get("cache", {})
    joint_format = "h36m17" if plan.external_2d is not None else "coco17"
    spec = StoreSpec(num_frames=len(plan.index), shard_frames=int(cache_cfg.get("shard_frames", 256)),
                     levels=detector.levels, num_joints=17, joint_format=joint_format,
                     compression=cache_cfg.get("compression", "none"),
                     feature_dtype=plan.key_inputs.feature_dtype)
    if not plan.path.exists():
        plan.path.parent.mkdir(parents=True, exist_ok=True)
        create_store(plan.path, spec, plan.key_inputs, plan.index.static_arrays(), plan.index.index_tables,
                     attrs={"detector": request.config["detector"].get("name", ""),
                            "detector_config": str(detector.config_path),
                            "random_init": request.random_init,
                            "joint_format": joint_format,
                            "input_size_wh": list(detector.input_size_wh),
                            "levels": [{"name": lv.name, "stride": lv.stride, "channels": lv.channels,
                                        "shape": [lv.height, lv.width]} for lv in detector.levels],
                            "pixel_convention": "feature pixel u of stride s is at input pixel u*s "
                                                "(mmpose codecs); input pixel centres at integers"})
    return FeatureStore.open(plan.path, mode="r+", allow_incomplete=True)


def _shard_arrays(outputs: list[dict], external: tuple[np.ndarray, np.ndarray] | None,
                  frames: np.ndarray) -> dict[str, np.ndarray]:
    """Concatenate a shard's batch outputs and choose the 2D source for kp2d/kp2d_input/score."""
    merged = {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]}
    arrays = {k: v for k, v in merged.items() if k.startswith("feat/")}
    arrays["affine"] = merged["affine"]
    arrays["det_kp2d"] = merged["det_kp2d"]
    if external is None:
        arrays["kp2d"], arrays["kp2d_input"], arrays["score"] = (
            merged["det_kp2d"], merged["det_kp2d_input"], merged["det_score"])
    else:
        joints, scores = external[0][frames], external[1][frames]
        arrays["kp2d"], arrays["score"] = joints, scores
        arrays["kp2d_input"] = image_to_input(joints, merged["affine"]).astype(np.float32)
    return arrays


def run_extraction(request: ExtractRequest) -> ExtractResult:
    """Extract (or resume, or find in the cache) the store for `request`."""
    started = time.perf_counter()
    plan = plan_extraction(request)
    if plan.path.exists() and FeatureStore.open(plan.path, allow_incomplete=True).is_complete():
        return ExtractResult(plan.path, len(plan.index), True, 0, 0, time.perf_counter() - started, True)

    det_cfg, runtime = request.config["detector"], request.config.get("runtime", {})
    device = resolve_device(request.device if request.device != "auto" else runtime.get("device", "auto"))
    if device == "cuda" and request.world_size > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    detector = TopdownDetector(det_cfg["config"], request.checkpoint,
                               checkpoint_sha256=None if request.random_init else plan.key_inputs.checkpoint_sha256,
                               random_init=request.random_init, seed=det_cfg.get("seed", 0), device=device,
                               flip_test=bool(det_cfg.get("flip_test", False)))
    # Rank 0 lays the store out; the others open it after the barrier and all see one pending list.
    if request.rank == 0:
        store = _open_or_create(plan, detector, request)
    _barrier()
    if request.rank != 0:
        store = FeatureStore.open(plan.path, mode="r+", allow_incomplete=True)
    queue = ShardQueue(store, max_shards=request.max_shards)
    batch_size = request.batch_size or runtime.get("batch_size", 32)
    workers = request.num_workers if request.num_workers is not None else runtime.get("num_workers", 2)
    dataset = _CropDataset(plan.index, detector.crop)
    pending_frames = sum(np.subtract(*store.spec.shard_bounds(s)[::-1]) for s in store.pending_shards())
    frames_written, detector_seconds = 0, 0.0
    progress = _progress(int(pending_frames), request.progress, plan.path.name)
    loop_started = time.perf_counter()

    def write_and_release(shard: int, arrays: dict[str, np.ndarray]) -> None:
        store.write_shard(shard, arrays)
        queue.done(shard)

    while True:  # one round per batch of claimable shards; more rounds only after another process died
        loader = DataLoader(dataset, batch_sampler=_ClaimedBatches(queue, store.spec, batch_size),
                            num_workers=workers, collate_fn=_collate, pin_memory=device.startswith("cuda"),
                            persistent_workers=False, prefetch_factor=4 if workers else None)
        pending_write: Future | None = None
        outputs: list[dict] = []
        # The loader forks its workers when iterated: collect cyclic garbage first, so no dead object
        # with a finaliser (e.g. an earlier DataLoader iterator, as mmengine's Runner leaves one
        # behind) is copied into the workers and finalised there, outside the process that owns it.
        gc.collect()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shard-writer") as writer:
            for batch in loader:
                frames = batch.pop("frames")
                tick = time.perf_counter()
                outputs.append(detector.forward(batch))
                detector_seconds += time.perf_counter() - tick
                shard = frames[0] // store.spec.shard_frames
                start, stop = store.spec.shard_bounds(shard)
                if frames[-1] + 1 == stop:  # last batch of this shard
                    arrays = _shard_arrays(outputs, plan.external_2d, np.arange(start, stop))
                    outputs = []
                    if pending_write is not None:
                        pending_write.result()  # at most one shard in flight: bounded memory
                    pending_write = writer.submit(write_and_release, shard, arrays)
                frames_written += len(frames)
                progress.update(len(frames))
            if pending_write is not None:
                pending_write.result()
        if not queue.wait_for_others():
            break
    progress.close()
    shards = queue.claimed
    loop_seconds = time.perf_counter() - loop_started
    _barrier()  # every rank's shards are flagged before rank 0 looks
    frames_written = _sum_over_ranks(frames_written)
    complete = store.mark_complete_if_done() if request.rank == 0 else store.done_mask().all()
    elapsed = time.perf_counter() - started
    size = store.size_on_disk()
    return ExtractResult(plan.path, len(plan.index), False, len(shards), frames_written, elapsed, complete,
                         bytes_per_frame=size / max(len(plan.index), 1), detector_seconds=detector_seconds,
                         loop_seconds=loop_seconds)


def _barrier() -> None:
    """Synchronise torchrun ranks (a no-op in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _sum_over_ranks(count: int) -> int:
    """Total of a per-rank count, so rank 0's summary speaks for the whole run."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return count
    total = torch.tensor([count], dtype=torch.int64)
    if torch.distributed.get_backend() == "nccl":
        total = total.cuda()
    torch.distributed.all_reduce(total)
    return int(total.item())


def _progress(total: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=f"extract {label}", disable=not enabled, dynamic_ncols=True,
                smoothing=0.1)
