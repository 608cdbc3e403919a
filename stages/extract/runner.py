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

from cache.pass_lock import exclusive_pass
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
    flip_frames_written: int = 0  # frames of the flip pass (feat_flip) computed by this run
    flip_complete: bool = False   # the store has every shard's feat_flip maps

    def summary(self) -> str:
        flips = "; flip features complete" if self.flip_complete else ""
        if self.cache_hit:
            return f"cache hit: {self.path} ({self.num_frames} frames, complete{flips}; no detector work)"
        rate = (self.frames_written + self.flip_frames_written) / self.loop_seconds if self.loop_seconds else 0.0
        state = "complete" if self.complete else "incomplete (re-run to resume)"
        if self.flip_frames_written:
            state += ("; flip features complete" if self.flip_complete
                      else "; flip features incomplete (re-run with --flip to resume)")
        elif flips:
            state += flips
        mirrored = f" + {self.flip_frames_written} mirrored" if self.flip_frames_written else ""
        return (f"extracted {self.frames_written}{mirrored} of {self.num_frames} frames in {self.loop_seconds:.1f} s "
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
                            "hrnet_levels": cfg["detector"]["hrnet_levels"],
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
    processes, claim shards one at a time.

    ``request.flip``: once the store is complete, a second pass adds ``feat_flip/<l>`` (the
    detector's maps of the mirrored crops) shard by shard, with its own done flags; the arrays of
    the first pass are never rewritten, so a complete store without flips runs only this pass."""
    started = time.perf_counter()
    cfg = extract_settings(request.config)
    plan = plan or plan_extraction(request)
    if plan.complete_store() is not None and not (request.flip and not _has_flips(plan.path)):
        add_joint_feats(plan.path, progress=request.progress)  # a store from before joint features gets them (maps only, no detector)
        return ExtractResult(plan.path, len(plan.index), True, 0, 0, time.perf_counter() - started, True,
                             flip_complete=_has_flips(plan.path))

    det_cfg, runtime, ranks = cfg["detector"], cfg["runtime"], Ranks.current()
    device = ranks.device(request.device if request.device != "auto" else runtime["device"])
    detector = TopdownDetector(det_cfg["config"], request.checkpoint,
                               checkpoint_sha256=None if request.random_init else plan.key_inputs.checkpoint_sha256,
                               random_init=request.random_init, seed=det_cfg["seed"], device=str(device),
                               flip_test=bool(det_cfg["flip_test"]), bbox_padding=plan.index.bbox_padding,
                               hrnet_levels=det_cfg["hrnet_levels"], crop_affine=plan.index.crop_affine)
    # Rank 0 lays the store out; the others open it after the barrier and all see one pending list.
    if ranks.main:
        store = _open_or_create(plan, detector, cfg, request.random_init)
    ranks.barrier()
    if not ranks.main:
        store = FeatureStore.open(plan.path, mode="r+", allow_incomplete=True)
    batch_size = request.batch_size or runtime["batch_size"]
    workers = request.num_workers if request.num_workers is not None else runtime["num_workers"]
    dataset = _CropDataset(plan.index, detector.crop)
    loop_started = time.perf_counter()

    def write_maps(shard: int, outputs: list[dict]) -> None:
        start, stop = store.spec.shard_bounds(shard)
        store.write_shard(shard, _shard_arrays(outputs, plan.external_2d, np.arange(start, stop)))

    queue = ShardQueue(store, max_shards=request.max_shards)
    frames_written, detector_seconds = _run_pass(queue, dataset, detector.forward, write_maps, batch_size, workers,
                                                 device, request.progress, f"extract {plan.path.name}")
    ranks.barrier()  # every rank's shards are flagged before rank 0 looks
    frames_written = ranks.sum_count(frames_written)
    complete = store.mark_complete_if_done() if ranks.main else store.done_mask().all()
    if complete:
        add_joint_feats(plan.path, progress=request.progress)
    shards = list(queue.claimed)
    flip_frames, flip_complete = 0, None
    budget = None if request.max_shards is None else request.max_shards - len(queue.claimed)
    if complete and request.flip and (budget is None or budget > 0):
        flip_frames, flip_seconds, flip_complete, flip_shards = _flip_pass(
            store, detector, dataset, request, batch_size, workers, device, budget)
        detector_seconds += flip_seconds
        shards += flip_shards
        if flip_complete:
            add_joint_feats(plan.path, progress=request.progress)  # joint_feat_flip from the finished feat_flip maps
    loop_seconds = time.perf_counter() - loop_started
    elapsed = time.perf_counter() - started
    size = store.size_on_disk()
    return ExtractResult(plan.path, len(plan.index), False, len(shards), frames_written, elapsed, complete,
                         bytes_per_frame=size / max(len(plan.index), 1), detector_seconds=detector_seconds,
                         loop_seconds=loop_seconds, flip_frames_written=flip_frames,
                         flip_complete=flip_complete if flip_complete is not None else _has_flips(plan.path))


def _has_flips(path: Path) -> bool:
    return FeatureStore.open(path, allow_incomplete=True).has_flip_features()


def _flip_pass(store: FeatureStore, detector: TopdownDetector, dataset: "_CropDataset", request: ExtractRequest,
               batch_size: int, workers: int, device, budget: int | None) -> tuple[int, float, bool, list[int]]:
    """``feat_flip/<l>`` for the pending flip shards: the same crops, mirrored, through the same
    detector; (frames written over all ranks, detector seconds, flip pass complete, shards claimed)."""
    ranks = Ranks.current()
    if ranks.main:  # independent processes lay the flip arrays out one at a time: each sees them whole
        with exclusive_pass(store.path, "flip_layout"):
            store.add_flip_arrays()
    ranks.barrier()
    if not ranks.main:
        store = FeatureStore.open(store.path, mode="r+", allow_incomplete=True)

    def write_flip_maps(shard: int, outputs: list[dict]) -> None:
        store.write_flip_shard(shard, {k: np.concatenate([o[k] for o in outputs]) for k in outputs[0]})

    queue = ShardQueue(store, max_shards=budget, flip=True)
    frames, seconds = _run_pass(queue, dataset, detector.mirrored_maps, write_flip_maps, batch_size, workers, device,
                                request.progress, f"extract --flip {store.path.name}")
    ranks.barrier()
    frames = ranks.sum_count(frames)
    complete = store.mark_flip_complete_if_done() if ranks.main else bool(store.flip_done_mask().all())
    return frames, seconds, bool(complete), list(queue.claimed)


def _run_pass(queue: ShardQueue, dataset: "_CropDataset", compute, write_shard, batch_size: int, workers: int,
              device, progress_enabled: bool, label: str) -> tuple[int, float]:
    """Claim shards and run ``compute`` (a packed crop batch -> per-frame arrays) over their frames;
    each finished shard goes to ``write_shard(shard, outputs)`` on a background thread (which flags
    it done) while the next shard's batches run. Returns (frames computed here, seconds in ``compute``)."""
    store = queue.store
    pending_frames = sum(np.subtract(*store.spec.shard_bounds(s)[::-1]) for s in queue.pending())
    frames_written, detector_seconds = 0, 0.0
    progress = _progress(int(pending_frames), progress_enabled, label)

    def write_and_release(shard: int, outputs: list[dict]) -> None:
        write_shard(shard, outputs)
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
                outputs.append(compute(batch))
                detector_seconds += time.perf_counter() - tick
                shard = frames[0] // store.spec.shard_frames
                if frames[-1] + 1 == store.spec.shard_bounds(shard)[1]:  # last batch of this shard
                    if pending_write is not None:
                        pending_write.result()  # at most one shard in flight: bounded memory
                    pending_write = writer.submit(write_and_release, shard, outputs)
                    outputs = []
                frames_written += len(frames)
                progress.update(len(frames))
            if pending_write is not None:
                pending_write.result()
        if not queue.wait_for_others():
            break
    progress.close()
    return frames_written, detector_seconds


def add_joint_feats(path: Path, *, progress: bool = True) -> None:
    """Rank 0 samples the finished maps at the joints (``joint_feat/<l>``, stages.lift.joint_feats).

    Every independent process that completes the store gets here at about the same time; the pass
    builds one temporary group and renames it, so it runs under the store's pass lock: the first
    process writes the joint features, the others wait and find them there."""
    from stages.lift.joint_feats import ensure_joint_feats

    ranks = Ranks.current()
    if ranks.main:
        with exclusive_pass(path, "joint_feat"):
            ensure_joint_feats(path, progress=progress)
    ranks.barrier()


def _progress(total: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=label, disable=not enabled, dynamic_ncols=True,
                smoothing=0.1)
