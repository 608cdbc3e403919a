"""Lazy, batch-level dataset over a feature store: the lifter's inputs and targets for whole batches.

One ``__getitem__`` call returns a whole batch: a ``FrameBatchSampler`` yields sorted position
batches, and the dataset reads only those frames of every level (fp16) through the fastest reader
the store's layout allows (``FeatureStore.reader``, cache/readers.py). Small per-frame arrays (2D joints, image
sizes, 3D targets, labels) are read once, converted and normalised in ``lift_inputs`` (the one
place where the store's joint format and the DESIGN's normalisation are applied) and shared by
forked DataLoader workers. With ``in_memory=True`` the chosen levels of the chosen frames are read
into RAM once (refused when they do not fit); batches are then gathered from memory.

Batch dict (B frames, J = 17 H36M joints, L levels):
    pos (B,) int64       positions in this dataset (0..len-1), for putting predictions in order
    frame (B,) int64     frame indices in the store
    pose2d (B, J, 2)     float32, image pixels normalised as X / w * 2 - [1, h / w]
    ref_px (B, J, 2)     float32, detector-input pixels (the reference points)
    target (B, J, 3)     float32, root-relative 3D in metres (pelvis = joint 0); only with gt3d
    feats                L tensors (B, C_l, H_l, W_l) float16; empty when ``read_maps=False`` or when the
                         batch asked for the mirrored crops' maps only
    feats_flip           L tensors like ``feats`` from ``feat_flip/<l>`` (the detector's maps of the
                         mirrored crops, `capf extract --flip`); only in batches that asked for them

Which map sets a batch reads is the sampler's choice: a plain position array reads ``feat``; a
``BatchRequest`` names the sets (``feat_flip`` for a training batch the loop mirrors, both for the
flip test), so a mirrored training batch reads the flip maps *instead of* the others, never both.

An int8 store (``cache.dtype='int8'``) holds uint8 codes and per-(frame, channel) scales. With
``dequantize=True`` (CPU training) the loader dequantises; with ``dequantize=False`` the batch
carries the codes in ``feats`` (uint8) plus ``feat_scales`` (L tensors (B, C_l, 2) float32), and
``to_device`` dequantises after the copy, so a GPU receives half the bytes and does the arithmetic
(``feats_flip`` likewise, with ``feat_flip_scales``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from cache.quantize import dequantize_torch, dequantize_uint8
from cache.store import FeatureStore, StoreError
from stages.lift.joints import ROOT_JOINT, as_h36m17, normalise_screen_coordinates
from cache.readers import TensorstoreReader, available_memory_bytes

MM_PER_M = 1000.0
# map set -> (its batch key, the batch key of its int8 scales)
MAP_SETS = {"feat": ("feats", "feat_scales"), "feat_flip": ("feats_flip", "feat_flip_scales")}


@dataclass(frozen=True)
class BatchRequest:
    """One batch's positions and the map sets to read (``MAP_SETS``); a plain position array means
    ``("feat",)``."""

    positions: np.ndarray
    maps: tuple[str, ...] = ("feat",)


@dataclass
class LiftInputs:
    """Per-frame lifter inputs of a frame subset, in the order of ``frames`` (store indices)."""

    frames: np.ndarray                      # (N,) int64, ascending
    pose2d: np.ndarray                      # (N, 17, 2) float32
    ref_px: np.ndarray                      # (N, 17, 2) float32
    target_m: np.ndarray | None             # (N, 17, 3) float32, root-relative metres
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # action/video/subject names, frame numbers


def lift_inputs(store: FeatureStore, frames: np.ndarray) -> LiftInputs:
    """Read and prepare the small arrays of ``frames``.

    2D input from ``kp2d`` (image px) normalised with each frame's own image size; reference points
    from ``kp2d_input``; both converted COCO-17 -> H36M-17 when the store holds the detector's own
    joints (``joint_format == "coco17"``). Targets: ``gt3d`` (camera-frame mm) minus the pelvis, in
    metres.
    """
    frames = np.asarray(frames, dtype=np.int64)
    try:
        pose2d, ref_px = lifter_2d_inputs(store.read("kp2d")[frames], store.read("kp2d_input")[frames],
                                          store.read("image_size")[frames], store.spec.joint_format)
    except ValueError as error:
        raise StoreError(f"{store.path}: {error}") from error
    target = None
    if store.has("gt3d"):
        gt = store.read("gt3d")[frames].astype(np.float32)
        target = ((gt - gt[:, ROOT_JOINT:ROOT_JOINT + 1]) / MM_PER_M).astype(np.float32)
    labels: dict[str, np.ndarray] = {}
    for name in ("subject", "action", "video", "camera", "sequence", "activity", "scene"):  # scene...: 3DHP
        if store.has(f"index/{name}"):
            codes = store.read(f"index/{name}")[frames]
            labels[name] = np.asarray(store.labels(name), dtype=object)[codes]
    if store.has("index/frame"):
        labels["frame"] = store.read("index/frame")[frames].astype(np.int64)
    return LiftInputs(frames, pose2d, ref_px, target, labels)


def lifter_2d_inputs(kp2d_px: np.ndarray, kp2d_input_px: np.ndarray, image_size_wh: np.ndarray,
                     joint_format: str) -> tuple[np.ndarray, np.ndarray]:
    """Stage one's joints of N records -> the lifter's ``pose2d`` and ``ref_px`` ``(N, 17, 2)`` float32.

    ``kp2d_px`` ``(N, J, 2)`` image pixels are normalised with each record's own image size
    ``(N, 2)`` (w, h); ``kp2d_input_px`` (detector-input pixels) become the reference points; both
    are converted to H36M-17 from ``joint_format`` (ValueError for an unknown one). The one place
    where this happens, for a store's records and for a live frame alike.
    """
    kp2d = as_h36m17(np.asarray(kp2d_px).astype(np.float32), joint_format)
    ref_px = as_h36m17(np.asarray(kp2d_input_px).astype(np.float32), joint_format)
    sizes = np.asarray(image_size_wh).astype(np.int64).reshape(-1, 2)
    pose2d = np.empty_like(kp2d)
    for width, height in np.unique(sizes, axis=0):  # a handful of camera resolutions
        rows = np.all(sizes == (width, height), axis=1)
        pose2d[rows] = normalise_screen_coordinates(kp2d[rows], float(width), float(height))
    return pose2d.astype(np.float32), ref_px


def select_frames(store: FeatureStore, subjects: Sequence[str] | None) -> np.ndarray:
    """Store indices of the frames of ``subjects`` (all frames for None), ascending."""
    if subjects is None:
        return np.arange(store.num_frames, dtype=np.int64)
    if not store.has("index/subject"):
        raise StoreError(f"{store.path} has no subject index; set the data split's subjects to None")
    names = store.labels("subject")
    unknown = sorted(set(subjects) - set(names))
    if unknown:
        raise StoreError(f"{store.path}: subjects {unknown} not in the store (it has {names})")
    wanted = np.isin(np.asarray(names, dtype=object), list(subjects))
    frames = np.flatnonzero(wanted[store.read("index/subject")]).astype(np.int64)
    if len(frames) == 0:
        raise StoreError(f"{store.path}: no frames for subjects {list(subjects)}")
    return frames


class FrameBatchSampler(Sampler[np.ndarray]):
    """Batches of dataset positions, each sorted (neighbouring frames share shard files).

    The order depends only on (seed, epoch): a resumed run replays exactly the batches the killed
    one would have seen, and ``skip_batches`` drops those it had already trained on.

    Under DDP every rank builds the same global batches and iterates over its part of each
    (``part``: every ``world_size``-th position from ``rank``), so one optimizer step of the job
    sees exactly the frames of one step of a single process; ``loss_weight`` makes the gradient the
    same too. Resuming with another number of ranks keeps the data order.
    """

    def __init__(self, num_items: int, batch_size: int, *, shuffle: bool, seed: int = 0, drop_last: bool = False,
                 rank: int = 0, world_size: int = 1):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        self.num_items, self.batch_size = num_items, batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch, self.skip_batches = 0, 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def _order(self) -> np.ndarray:
        """All positions in this epoch's order: a function of (seed, epoch) only."""
        if not self.shuffle:
            return np.arange(self.num_items)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.num_items)

    def batches(self) -> list[np.ndarray]:
        """The global batches of this epoch (the same on every rank)."""
        order = self._order()
        stop = self.num_items - self.num_items % self.batch_size if self.drop_last else self.num_items
        return [np.sort(order[i:i + self.batch_size]) for i in range(0, stop, self.batch_size)]

    def full_length(self) -> int:
        full, rest = divmod(self.num_items, self.batch_size)
        return full + (1 if rest and not self.drop_last else 0)

    def global_batch_size(self, index: int) -> int:
        """Frames in global batch ``index`` of an epoch (only the last one can be short)."""
        return min(self.batch_size, self.num_items - index * self.batch_size)

    def part(self, batch: np.ndarray) -> np.ndarray:
        """This rank's positions of a global batch (still sorted). A rank left with none (a last
        batch smaller than the world) gets the batch's first frame as a stand-in that
        ``loss_weight`` weighs 0: DDP needs every rank in every backward, and a read of zero frames
        is not possible."""
        own = batch[self.rank::self.world_size]
        return own if len(own) else batch[:1]

    def loss_weight(self, index: int) -> float:
        """Factor on this rank's mean loss over its part of global batch ``index``: n_rank * world / n.

        DDP averages gradients over ranks, so the job's gradient is sum_r n_r mean_r / n, the
        gradient of the global batch's mean loss, also when the parts differ in size. 1.0 in one
        process; 0.0 for a stand-in part.
        """
        size = self.global_batch_size(index)
        return len(range(self.rank, size, self.world_size)) * self.world_size / size

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self.batches()[self.skip_batches:]:
            yield self.part(batch)

    def __len__(self) -> int:
        return self.full_length() - self.skip_batches


def training_sampler(dataset: Dataset, batch_size: int, *, seed: int, rank: int = 0,
                     world_size: int = 1) -> FrameBatchSampler:
    """The training loop's batches: every position shuffled on its own, so a batch of single frames
    comes from all over the split and a batch of temporal windows from many videos (neighbouring
    windows of one video are nearly the same sample; a batch of them is one sample many times)."""
    return FrameBatchSampler(len(dataset), batch_size, shuffle=True, seed=seed, rank=rank, world_size=world_size)


class FlipReadingSampler(Sampler[BatchRequest]):
    """A ``FrameBatchSampler``'s batches as ``BatchRequest``s that read ``feat_flip`` for exactly the
    batches the training loop mirrors (``flips(epoch, batch_in_epoch)``, the loop's own deterministic
    decision), so a mirrored batch reads only the mirrored crops' maps. Epochs, skipped batches and
    DDP parts stay the wrapped sampler's."""

    def __init__(self, sampler: FrameBatchSampler, flips: Callable[[int, int], bool]):
        self.sampler, self.flips = sampler, flips

    def __iter__(self) -> Iterator[BatchRequest]:
        for index, part in enumerate(self.sampler, start=self.sampler.skip_batches):
            flipped = self.flips(self.sampler.epoch, index)
            yield BatchRequest(part, ("feat_flip",) if flipped else ("feat",))

    def __len__(self) -> int:
        return len(self.sampler)


class CacheBatchDataset(Dataset):
    """Map-style dataset whose items are whole batches: ``dataset[positions] -> batch dict``.

    Args:
        store_path: a complete feature store.
        frames: store indices of the frames this dataset serves (ascending).
        level_names: ``feat/<name>`` levels to read, in the model's order.
        read_maps: False for ``context="none"`` (the maps are never read).
        in_memory: read the levels of all ``frames`` into RAM once (error if they do not fit).
        reader: ``cache.readers`` kind for the lazy path.
        verify: check each chunk's crc32c the first time it is read (the mmap reader).
        dequantize: int8 stores only: dequantise in the loader (True) or in ``to_device`` (False).
        flip_maps: also open ``feat_flip/<l>`` (the store must have complete flip maps), so batches
            may ask for them (``BatchRequest``); in memory they are held too.
    """

    def __init__(self, store_path: Path, frames: np.ndarray, level_names: Sequence[str], *,
                 read_maps: bool = True, in_memory: bool = False, reader: str = "auto",
                 memory_fraction: float = 0.8, verify: bool = True, dequantize: bool = True,
                 flip_maps: bool = False):
        self.store_path = Path(store_path)
        store = FeatureStore.open(self.store_path)
        self.inputs = lift_inputs(store, frames)
        self.level_names = list(level_names) if read_maps else []
        self.level_shapes = [tuple(store.group[f"feat/{n}"].shape[1:]) for n in self.level_names]
        self.quantized = store.feature_dtype != "float16"
        self.dequantize = dequantize
        self.code_dtype = np.uint8 if self.quantized else np.float16
        self.readers = [store.reader(n, reader, verify=verify) for n in self.level_names]
        self.scale_readers = [store.reader(n, reader, verify=verify, scales=True)
                              for n in self.level_names] if self.quantized else []
        if flip_maps and self.level_names and not store.has_flip_features():
            raise StoreError(f"{self.store_path}: no complete feat_flip maps; add them with `capf extract --flip`")
        self.has_flip_maps = bool(flip_maps and self.level_names)
        self.flip_readers = [store.reader(n, reader, verify=verify, flip=True)
                             for n in self.level_names] if self.has_flip_maps else []
        self.flip_scale_readers = [store.reader(n, reader, verify=verify, scales=True, flip=True)
                                   for n in self.level_names] if self.has_flip_maps and self.quantized else []
        self.memory: list[np.ndarray] | None = None
        self.scale_memory: list[np.ndarray] | None = None
        self.flip_memory: list[np.ndarray] | None = None
        self.flip_scale_memory: list[np.ndarray] | None = None
        if in_memory and self.level_names:
            self._check_memory(memory_fraction)
            block = store.spec.shard_frames
            self.memory, self.scale_memory = self._load_into_memory(self.readers, self.scale_readers, block)
            if self.has_flip_maps:
                self.flip_memory, self.flip_scale_memory = self._load_into_memory(
                    self.flip_readers, self.flip_scale_readers, block)

    def memory_bytes(self) -> int:
        """RAM that ``in_memory=True`` needs for the feature maps (codes and scales of an int8 store)."""
        per_frame = sum(int(np.prod(s)) * np.dtype(self.code_dtype).itemsize for s in self.level_shapes)
        if self.quantized:
            per_frame += sum(s[0] * 2 * 4 for s in self.level_shapes)
        return len(self.inputs.frames) * per_frame * (2 if self.has_flip_maps else 1)

    def _check_memory(self, fraction: float) -> None:
        need, have = self.memory_bytes(), available_memory_bytes()
        if need > fraction * have:
            raise StoreError(f"{self.store_path}: holding {len(self.inputs.frames)} frames in RAM needs "
                             f"{need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is available; "
                             "set train.in_memory=False (lazy reads)")

    def _load_into_memory(self, readers: list, scale_readers: list,
                          block: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
        frames = self.inputs.frames
        memory = [np.empty((len(frames), *shape), dtype=self.code_dtype) for shape in self.level_shapes]
        scales = [np.empty((len(frames), shape[0], 2), dtype=np.float32) for shape in self.level_shapes]
        for start in range(0, len(frames), block):
            for reader, array in zip(readers, memory):
                reader.read(frames[start:start + block], out=array[start:start + block])
            for reader, array in zip(scale_readers, scales):
                reader.read(frames[start:start + block], out=array[start:start + block])
        return memory, (scales if self.quantized else None)

    def __len__(self) -> int:
        return len(self.inputs.frames)

    def __getitem__(self, request: np.ndarray | BatchRequest) -> dict:
        if isinstance(request, BatchRequest):
            pos, map_sets = np.asarray(request.positions, dtype=np.int64), request.maps
        else:
            pos, map_sets = np.asarray(request, dtype=np.int64), ("feat",)
        frames = self.inputs.frames[pos]
        batch = {"pos": torch.from_numpy(pos), "frame": torch.from_numpy(frames),
                 "pose2d": torch.from_numpy(self.inputs.pose2d[pos]),
                 "ref_px": torch.from_numpy(self.inputs.ref_px[pos])}
        if self.inputs.target_m is not None:
            batch["target"] = torch.from_numpy(self.inputs.target_m[pos])
        batch["feats"] = []  # a batch that reads only the flip maps still has (empty) plain ones
        for map_set in map_sets:
            feats_key, scales_key = MAP_SETS[map_set]
            batch[feats_key], scales = self._read_maps(map_set, pos, frames)
            if scales:
                batch[scales_key] = scales
        return batch

    def _read_maps(self, map_set: str, pos: np.ndarray, frames: np.ndarray) -> tuple[list[torch.Tensor],
                                                                                   list[torch.Tensor]]:
        """One map set's L levels of a batch (B, C_l, H_l, W_l), and an int8 store's scales when they
        are left for ``to_device``."""
        if map_set == "feat_flip":
            if self.level_names and not self.has_flip_maps:
                raise StoreError(f"{self.store_path}: this dataset was opened without its feat_flip maps")
            readers, scale_readers = self.flip_readers, self.flip_scale_readers
            memory, scale_memory = self.flip_memory, self.flip_scale_memory
        else:
            readers, scale_readers, memory, scale_memory = (self.readers, self.scale_readers, self.memory,
                                                            self.scale_memory)
        feats, scales = [], []
        for i, shape in enumerate(self.level_shapes):
            # numpy allocates large buffers on transparent huge pages: ~4x faster to fill than
            # torch.empty's 4 KiB pages (measured); the tensor shares the buffer.
            out = np.empty((len(pos), *shape), dtype=self.code_dtype)
            if memory is not None:
                np.take(memory[i], pos, axis=0, out=out, mode="clip")  # "raise" would buffer
            else:
                readers[i].read(frames, out=out)
            if self.quantized:
                scale = np.empty((len(pos), shape[0], 2), dtype=np.float32)
                if scale_memory is not None:
                    np.take(scale_memory[i], pos, axis=0, out=scale, mode="clip")
                else:
                    scale_readers[i].read(frames, out=scale)
                if self.dequantize:
                    out = dequantize_uint8(out, scale)
                else:
                    scales.append(torch.from_numpy(scale))
            feats.append(torch.from_numpy(out))
        return feats, scales


def _identity(batch: dict) -> dict:
    return batch


def auto_workers(workers: int | str, processes: int = 1) -> int:
    """``"auto"``: one loader process per spare core, at most 8 (0 on a 2-core machine, where the
    main process reading in-line measured fastest: worker results cost an extra shared-memory copy).
    ``processes`` training processes on one machine (torchrun ranks) share the spare cores."""
    if workers == "auto":
        return min(8, max(0, ((os.cpu_count() or 1) - 2) // max(processes, 1)))
    return int(workers)


def make_loader(dataset: CacheBatchDataset, sampler: FrameBatchSampler | Sequence[np.ndarray], *,
                workers: int | str, pin_memory: bool, prefetch_batches: int = 2, seed: int = 0) -> DataLoader:
    """A DataLoader that asks the dataset for whole batches (no per-sample collate); ``sampler``
    yields position arrays (a ``FrameBatchSampler``, or a list of batches).

    Workers fork after the dataset read its small arrays (shared copy-on-write); each opens its own
    shard maps. A private generator keeps the workers' seeds off the global RNG, so the training
    RNG stream does not depend on how many loaders were created. tensorstore readers run in the
    main process: tensorstore parallelises internally and aborts in forked children.
    """
    workers = auto_workers(workers)
    if dataset.memory is None and any(isinstance(r, TensorstoreReader) for r in dataset.readers):
        workers = 0
    return DataLoader(dataset, sampler=sampler, batch_size=None, collate_fn=_identity, num_workers=workers,
                      pin_memory=pin_memory, prefetch_factor=prefetch_batches if workers else None,
                      persistent_workers=False, generator=torch.Generator().manual_seed(seed))


def to_device(batch: dict, device: torch.device) -> dict:
    """Move a batch's tensors and lists of tensors (``feats``, ``feats_flip``, ``joint_feats``, scales) to
    ``device`` (non-blocking from pinned memory); uint8 codes of an int8 store are dequantised there,
    after the copy."""
    moved = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            moved[key] = value.to(device, non_blocking=True)
        elif isinstance(value, (list, tuple)):
            moved[key] = [v.to(device, non_blocking=True) for v in value]
    for feats_key, scales_key in MAP_SETS.values():
        if scales_key in moved:
            moved[feats_key] = [dequantize_torch(codes, scale)
                                for codes, scale in zip(moved[feats_key], moved.pop(scales_key))]
    return moved
