"""Temporal windows over a feature store for the sequence lifters: joint features only, never maps.

One ``__getitem__`` call returns a whole batch of B target frames (positions in video order, see
:mod:`stages.lift.sequences`). Their windows of T frames overlap, so the batch carries each frame
the windows need once (U frames) plus a ``(B, T)`` index into them: the model encodes U frames,
not B x T. Training shuffles single windows over every video (``FrameBatchSampler`` without
groups), so a batch draws its windows from many videos, as PoseFormer's and VideoPose3D's
training does; windows that happen to overlap still share their frames.

Batch dict (B targets, U frames, J = 17 H36M joints, L levels):
    pos (B,) int64          target positions in this dataset (video order), for putting predictions in order
    frame (B,) int64        the targets' frame indices in the store
    pose2d (U, J, 2)        float32, normalised 2D of the frames the windows use
    joint_feats             L tensors (U, J, C_l) float16 (``joint_feat/<l>``); empty for context="none"
                            or for a request of the flip set only
    joint_feats_flip        L tensors (U, J, C_l) float16 (``joint_feat_flip/<l>``: the mirrored crops'
                            maps at the mirrored joints); only in batches that asked for ``feat_flip``
    window (B, T) int64     indices into the U frames, centre = the target, edges repeated
    target (B, J, 3)        float32, root-relative 3D of the targets in metres; only with gt3d

The store's ``feat/`` maps are never opened: a store whose maps were deleted after its joint
features were written still trains and evaluates these models (tested).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cache.store import FeatureStore, StoreError
from stages.lift.dataset import BatchRequest, CacheBatchDataset, LiftInputs, lift_inputs
from stages.lift.joint_feats import FLIP_GROUP, GROUP, require_joint_feats
from cache.readers import available_memory_bytes, open_reader
from stages.lift.sequences import group_videos, windows
from stages.lift.temporal import TEMPORAL_LIFTERS, PoseFormer, TemporalLifter

DEFAULT_FRAME_STEP = 1
# map set a BatchRequest names -> (joint-feature group, batch key)
JOINT_FEAT_SETS = {"feat": (GROUP, "joint_feats"), "feat_flip": (FLIP_GROUP, "joint_feats_flip")}


def _reordered(inputs: LiftInputs, order: np.ndarray) -> LiftInputs:
    return LiftInputs(inputs.frames[order], inputs.pose2d[order], inputs.ref_px[order],
                      None if inputs.target_m is None else inputs.target_m[order],
                      {name: values[order] for name, values in inputs.labels.items()})


class SequenceDataset(Dataset):
    """Map-style dataset whose items are whole batches of temporal windows: ``dataset[positions]``.

    Args:
        store_path: a complete feature store with joint features (unless ``read_joint_feats=False``).
        frames: store indices of the frames this dataset serves (any order; regrouped by video).
        level_names: ``joint_feat/<name>`` levels to read, in the model's order.
        window_frames: T, odd.
        convention: the model's ``ref_convention``; the store's joint features must match it.
        read_joint_feats: False for context="none" (the PoseFormer baseline reads 2D only).
        frame_step: frame-number step of consecutive frames (``stages.lift.sequences``).
        flip_joint_feats: also open ``joint_feat_flip/<l>``, so batches may ask for them
            (``BatchRequest`` with ``"feat_flip"``: a mirrored training batch, the flip test).
        in_memory: read the joint features of all ``frames`` into RAM once.
        reader: ``cache.readers`` kind for lazy reads.
        video_labels: per-frame ``video`` and ``frame`` arrays ``(N,)`` aligned with ``frames`` that
            group them instead of the store's index (``capf infer``: one video per person track,
            numbered by the clip's frames, where the store's index holds one video per clip).
    """

    def __init__(self, store_path: Path, frames: np.ndarray, level_names: Sequence[str], *, window_frames: int,
                 convention: str = "mmpose", read_joint_feats: bool = True, frame_step: int = DEFAULT_FRAME_STEP,
                 flip_joint_feats: bool = False, in_memory: bool = True, reader: str = "auto",
                 memory_fraction: float = 0.8, video_labels: Mapping[str, np.ndarray] | None = None):
        self.store_path = Path(store_path)
        store = FeatureStore.open(self.store_path)
        frames = np.asarray(frames, dtype=np.int64)
        base = lift_inputs(store, frames)
        self.videos = group_videos(base.labels if video_labels is None else video_labels, len(frames),
                                   frame_step=frame_step)
        self.inputs = _reordered(base, self.videos.order)  # position p = the p-th frame in video order
        self.window_frames = int(window_frames)
        windows(self.videos, np.zeros(0, dtype=np.int64), self.window_frames)  # checks T is odd
        self.level_names = list(level_names) if read_joint_feats else []
        self.has_flip_maps = bool(flip_joint_feats and self.level_names)  # the name the loaders ask by
        sets = ["feat", "feat_flip"] if self.has_flip_maps else ["feat"]
        for name in sets if self.level_names else []:
            require_joint_feats(store, self.level_names, convention, JOINT_FEAT_SETS[name][0])
        self.readers = {name: [open_reader(self.store_path / JOINT_FEAT_SETS[name][0] / n, reader)
                               for n in self.level_names] for name in sets}
        self.channels = [r.shape[-1] for r in self.readers["feat"]]
        self.memory: dict[str, list[np.ndarray]] | None = None
        if in_memory and self.level_names:
            self.memory = self._load_into_memory(memory_fraction)

    def memory_bytes(self) -> int:
        return len(self.readers) * len(self.inputs.frames) * int(self.inputs.pose2d.shape[1]) * sum(self.channels) * 2

    def _load_into_memory(self, fraction: float) -> dict[str, list[np.ndarray]]:
        need, have = self.memory_bytes(), available_memory_bytes()
        if need > fraction * have:
            raise StoreError(f"{self.store_path}: holding the joint features of {len(self.inputs.frames)} frames "
                             f"needs {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is available; "
                             "set train.in_memory=False (lazy reads)")
        return {name: [self._read(reader, self.inputs.frames) for reader in readers]
                for name, readers in self.readers.items()}

    @staticmethod
    def _read(reader, store_frames: np.ndarray) -> np.ndarray:
        """``(n, J, C)`` of ``store_frames`` in their order (readers are fastest on sorted frames)."""
        ascending = np.argsort(store_frames, kind="stable")
        values = reader.read(store_frames[ascending])
        out = np.empty_like(values)
        out[ascending] = values
        return out

    def __len__(self) -> int:
        return len(self.inputs.frames)

    def __getitem__(self, request) -> dict:
        """A batch of the windows of ``request``'s target positions (an array, or a ``BatchRequest``
        whose ``maps`` name the joint-feature sets to read: ``"feat"``, ``"feat_flip"``)."""
        if isinstance(request, BatchRequest):
            pos, sets = np.asarray(request.positions, dtype=np.int64), request.maps
        else:
            pos, sets = np.asarray(request, dtype=np.int64), ("feat",)
        win = windows(self.videos, pos, self.window_frames)              # (B, T) positions
        used, index = np.unique(win, return_inverse=True)                # U positions, (B*T,) into them
        batch = {"pos": torch.from_numpy(pos), "frame": torch.from_numpy(self.inputs.frames[pos]),
                 "pose2d": torch.from_numpy(self.inputs.pose2d[used]),
                 "window": torch.from_numpy(index.reshape(win.shape).astype(np.int64))}
        if self.inputs.target_m is not None:
            batch["target"] = torch.from_numpy(self.inputs.target_m[pos])
        batch["joint_feats"] = []  # a batch that reads only the flip set still has (empty) plain ones
        for name in sets:
            if self.level_names and name not in self.readers:
                raise StoreError(f"{self.store_path}: this dataset was opened without {JOINT_FEAT_SETS[name][0]}")
            readers = self.readers.get(name, [])
            if self.memory is not None:
                feats = [torch.from_numpy(values[used]) for values in self.memory[name]]
            else:
                feats = [torch.from_numpy(self._read(reader, self.inputs.frames[used])) for reader in readers]
            batch[JOINT_FEAT_SETS[name][1]] = feats
        return batch


def check_store_for(cfg: dict, store: FeatureStore, level_names: Sequence[str]) -> None:
    """Refuse, before any training starts, a store that lacks what the config's lifter reads: the
    joint features of a temporal lifter with context, and their flip set when mirrored batches read
    it (StoreError naming the command to run). ``cfg`` is completed by ``lift_settings``."""
    from stages.lift.augment import resolve_flip_features

    model = cfg.get("model", {})
    lifter = TEMPORAL_LIFTERS.get(model.get("type"))
    if lifter is None or model.get("context", "none" if lifter is PoseFormer else "fusion") == "none":
        return
    convention = model.get("ref_convention", "mmpose")
    require_joint_feats(store, level_names, convention)
    tcfg = cfg.get("train", {})
    if tcfg.get("flip_aug") and resolve_flip_features(tcfg.get("flip_features", "auto"), store) == "extracted":
        require_joint_feats(store, level_names, convention, FLIP_GROUP)


def lift_dataset(model: torch.nn.Module, store_path: Path, frames: np.ndarray, level_names: Sequence[str], *,
                 train_cfg: dict, data_cfg: dict, memory_fraction: float = 0.8,
                 dequantize: bool = True, flip_features: str = "mirrored",
                 video_labels: Mapping[str, np.ndarray] | None = None) -> CacheBatchDataset | SequenceDataset:
    """The dataset a lifter reads: temporal windows from the joint features for a
    :class:`~stages.lift.temporal.TemporalLifter`, single frames with their maps otherwise.
    ``train_cfg``/``data_cfg``: sections completed by ``lift_settings`` (configs/lift/capf_base.py).
    ``flip_features``: the resolved setting (``stages.lift.augment.resolve_flip_features``);
    ``"extracted"`` opens the store's ``feat_flip`` maps too, or, for a temporal lifter, its
    ``joint_feat_flip`` (the mirrored crops' features at the mirrored joints).
    ``video_labels``: a temporal lifter's grouping of ``frames`` into videos instead of the store's
    index (:class:`SequenceDataset`); single-frame lifters ignore it."""
    core = getattr(model, "module", model)  # DDP wraps the lifter
    if isinstance(core, TemporalLifter):
        return SequenceDataset(store_path, frames, level_names, window_frames=core.frames,
                               convention=core.ref_convention, read_joint_feats=core.context != "none",
                               frame_step=int(data_cfg["frame_step"]), flip_joint_feats=flip_features == "extracted",
                               in_memory=bool(train_cfg["in_memory"]), reader=train_cfg["reader"],
                               memory_fraction=memory_fraction, video_labels=video_labels)
    return CacheBatchDataset(store_path, frames, level_names, read_maps=core.context != "none",
                             in_memory=bool(train_cfg["in_memory"]), reader=train_cfg["reader"],
                             memory_fraction=memory_fraction, dequantize=dequantize,
                             flip_maps=flip_features == "extracted")
