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
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader, Dataset

from cache.store import FeatureStore, StoreSpec, create_store
from stages.detector.topdown import CropPipeline, TopdownDetector
from stages.distributed import Ranks
from stages.extract.external2d import image_to_input
from stages.extract.plan import ExtractPlan, ExtractRequest, plan_extraction
from stages.extract.settings import extract_settings
from stages.extract.shard_queue import ShardQueue
from stages.extract.sources import FrameIndex, SourceError, load_frame

log = logging.getLogger(__name__)


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


def _open_or_create(plan: ExtractPlan, detector: TopdownDetector, cfg: dict, random_init: bool) -> FeatureStore:
    spec = StoreSpec(num_frames=len(plan.index), shard_frames=int(cfg["cache"]["shard_frames"]),
                     levels=detector.levels, num_joints=17,
                     joint_format="h36m17" if plan.external_2d is not None else "coco17",
                     input_size_wh=tuple(detector.input_size_wh), compression=cfg["cache"]["compression"],
                     feature_dtype=plan.key_inputs.feature_dtype)
    if not plan.path.exists():
        plan.path.parent.mkdir(parents=True, exist_ok=True)
        create_store(plan.path, spec, plan.key_inputs, plan.index.static_arrays(), plan.index.index_tables,
                     attrs={"detector": cfg["detector"]["name"] or "",
                            "detector_config": str(detector.config_path),
                            "random_init": random_init,
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


def run_extraction(request: ExtractRequest, plan: ExtractPlan | None = None) -> ExtractResult:
    """Extract (or resume, or find in the cache) the store for `request` (``plan``: its plan, when
    the caller already made it). Under torchrun every rank calls this; ranks, like independent
    processes, claim shards one at a time."""
    started = time.perf_counter()
    cfg = extract_settings(request.config)
    plan = plan or plan_extraction(request)
    if plan.complete_store() is not None:
        _add_joint_feats(plan.path, request)  # a store from before joint features gets them (maps only, no detector)
        return ExtractResult(plan.path, len(plan.index), True, 0, 0, time.perf_counter() - started, True)

    det_cfg, runtime, ranks = cfg["detector"], cfg["runtime"], Ranks.current()
    device = ranks.device(request.device if request.device != "auto" else runtime["device"])
    detector = TopdownDetector(det_cfg["config"], request.checkpoint,
                               checkpoint_sha256=None if request.random_init else plan.key_inputs.checkpoint_sha256,
                               random_init=request.random_init, seed=det_cfg["seed"], device=str(device),
                               flip_test=bool(det_cfg["flip_test"]), bbox_padding=plan.index.bbox_padding)
    # Rank 0 lays the store out; the others open it after the barrier and all see one pending list.
    if ranks.main:
        store = _open_or_create(plan, detector, cfg, request.random_init)
    ranks.barrier()
    if not ranks.main:
        store = FeatureStore.open(plan.path, mode="r+", allow_incomplete=True)
    queue = ShardQueue(store, max_shards=request.max_shards)
    batch_size = request.batch_size or runtime["batch_size"]
    workers = request.num_workers if request.num_workers is not None else runtime["num_workers"]
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
                            num_workers=workers, collate_fn=_collate, pin_memory=device.type == "cuda",
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
    ranks.barrier()  # every rank's shards are flagged before rank 0 looks
    frames_written = ranks.sum_count(frames_written)
    complete = store.mark_complete_if_done() if ranks.main else store.done_mask().all()
    if complete:
        _add_joint_feats(plan.path, request)
    elapsed = time.perf_counter() - started
    size = store.size_on_disk()
    return ExtractResult(plan.path, len(plan.index), False, len(shards), frames_written, elapsed, complete,
                         bytes_per_frame=size / max(len(plan.index), 1), detector_seconds=detector_seconds,
                         loop_seconds=loop_seconds)


def _add_joint_feats(path: Path, request: ExtractRequest) -> None:
    """Rank 0 samples the finished maps at the joints (``joint_feat/<l>``, stages.lift.joint_feats)."""
    from stages.lift.joint_feats import ensure_joint_feats

    ranks = Ranks.current()
    if ranks.main:
        ensure_joint_feats(path, progress=request.progress)
    ranks.barrier()


def _progress(total: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=f"extract {label}", disable=not enabled, dynamic_ncols=True,
                smoothing=0.1)
