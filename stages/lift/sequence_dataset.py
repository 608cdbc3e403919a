"""Temporal windows over a feature store for the sequence lifters: joint features only, never maps.

One ``__getitem__`` call returns a whole batch of B target frames (positions in video order, see
:mod:`stages.lift.sequences`). Their windows of T frames overlap, so the batch carries each frame
the windows need once (U frames) plus a ``(B, T)`` index into them: the model encodes U frames,
not B x T. Training shuffles chunks of consecutive targets (``shuffle_groups``), so a batch of 128
targets with T = 81 and chunks of 32 needs about 128 + 4 x 80 = 448 frames instead of 10,368.

Batch dict (B targets, U frames, J = 17 H36M joints, L levels):
    pos (B,) int64          target positions in this dataset (video order), for putting predictions in order
    frame (B,) int64        the targets' frame indices in the store
    pose2d (U, J, 2)        float32, normalised 2D of the frames the windows use
    joint_feats             L tensors (U, J, C_l) float16 (``joint_feat/<l>``); empty for context="none"
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
from stages.lift.dataset import CacheBatchDataset, LiftInputs, lift_inputs
from stages.lift.joint_feats import GROUP, require_joint_feats
from cache.readers import available_memory_bytes, open_reader
from stages.lift.sequences import chunks, group_videos, windows
from stages.lift.temporal import TemporalPoseFormer

DEFAULT_FRAME_STEP = 1
DEFAULT_WINDOW_CHUNK = 32


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
        window_chunk: consecutive targets per training shuffle unit.
        in_memory: read the joint features of all ``frames`` into RAM once.
        reader: ``cache.readers`` kind for lazy reads.
        video_labels: per-frame ``video`` and ``frame`` arrays ``(N,)`` aligned with ``frames`` that
            group them instead of the store's index (``capf infer``: one video per person track,
            numbered by the clip's frames, where the store's index holds one video per clip).
    """

    def __init__(self, store_path: Path, frames: np.ndarray, level_names: Sequence[str], *, window_frames: int,
                 convention: str = "mmpose", read_joint_feats: bool = True, frame_step: int = DEFAULT_FRAME_STEP,
                 window_chunk: int = DEFAULT_WINDOW_CHUNK, in_memory: bool = True, reader: str = "auto",
                 memory_fraction: float = 0.8, video_labels: Mapping[str, np.ndarray] | None = None):
        self.store_path = Path(store_path)
        store = FeatureStore.open(self.store_path)
        frames = np.asarray(frames, dtype=np.int64)
        base = lift_inputs(store, frames)
        self.videos = group_videos(base.labels if video_labels is None else video_labels, len(frames),
                                   frame_step=frame_step)
        self.inputs = _reordered(base, self.videos.order)  # position p = the p-th frame in video order
        self.window_frames = int(window_frames)
        self.window_chunk = int(window_chunk)
        windows(self.videos, np.zeros(0, dtype=np.int64), self.window_frames)  # checks T is odd
        self.level_names = list(level_names) if read_joint_feats else []
        if self.level_names:
            require_joint_feats(store, self.level_names, convention)
        self.readers = [open_reader(self.store_path / GROUP / n, reader) for n in self.level_names]
        self.channels = [r.shape[-1] for r in self.readers]
        self.memory: list[np.ndarray] | None = None
        if in_memory and self.level_names:
            self.memory = self._load_into_memory(memory_fraction)

    def memory_bytes(self) -> int:
        return len(self.inputs.frames) * int(self.inputs.pose2d.shape[1]) * sum(self.channels) * 2

    def _load_into_memory(self, fraction: float) -> list[np.ndarray]:
        need, have = self.memory_bytes(), available_memory_bytes()
        if need > fraction * have:
            raise StoreError(f"{self.store_path}: holding the joint features of {len(self.inputs.frames)} frames "
                             f"needs {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is available; "
                             "set train.in_memory=False (lazy reads)")
        ascending = np.argsort(self.inputs.frames, kind="stable")  # readers are fastest on sorted frames
        memory = []
        for reader in self.readers:
            values = reader.read(self.inputs.frames[ascending])
            out = np.empty_like(values)
            out[ascending] = values
            memory.append(out)
        return memory

    @property
    def shuffle_groups(self) -> list[np.ndarray]:
        """Chunks of consecutive targets: ``FrameBatchSampler(groups=...)`` shuffles these as units."""
        return chunks(self.videos, self.window_chunk)

    def __len__(self) -> int:
        return len(self.inputs.frames)

    def __getitem__(self, positions) -> dict:
        pos = np.asarray(positions, dtype=np.int64)
        win = windows(self.videos, pos, self.window_frames)              # (B, T) positions
        used, index = np.unique(win, return_inverse=True)                # U positions, (B*T,) into them
        batch = {"pos": torch.from_numpy(pos), "frame": torch.from_numpy(self.inputs.frames[pos]),
                 "pose2d": torch.from_numpy(self.inputs.pose2d[used]),
                 "window": torch.from_numpy(index.reshape(win.shape).astype(np.int64))}
        if self.inputs.target_m is not None:
            batch["target"] = torch.from_numpy(self.inputs.target_m[pos])
        feats = []
        for i, reader in enumerate(self.readers):
            if self.memory is not None:
                feats.append(torch.from_numpy(self.memory[i][used]))
            else:
                store_frames = self.inputs.frames[used]
                ascending = np.argsort(store_frames, kind="stable")
                values = reader.read(store_frames[ascending])
                out = np.empty_like(values)
                out[ascending] = values
                feats.append(torch.from_numpy(out))
        batch["joint_feats"] = feats
        return batch


def check_store_for(cfg: dict, store: FeatureStore, level_names: Sequence[str]) -> None:
    """Refuse, before any training starts, a store that lacks what the config's lifter reads:
    the joint features of a temporal lifter with context (StoreError naming the command to run)."""
    model = cfg.get("model", {})
    if model.get("type") == TemporalPoseFormer.__name__ and model.get("context", "fusion") != "none":
        require_joint_feats(store, level_names, model.get("ref_convention", "mmpose"))


def lift_dataset(model: torch.nn.Module, store_path: Path, frames: np.ndarray, level_names: Sequence[str], *,
                 train_cfg: dict, data_cfg: dict, memory_fraction: float = 0.8,
                 dequantize: bool = True, flip_features: str = "mirrored",
                 video_labels: Mapping[str, np.ndarray] | None = None) -> CacheBatchDataset | SequenceDataset:
    """The dataset a lifter reads: temporal windows from the joint features for a
    :class:`~stages.lift.temporal.TemporalPoseFormer`, single frames with their maps otherwise.
    ``train_cfg``/``data_cfg``: sections completed by ``lift_settings`` (configs/lift/capf_base.py).
    ``flip_features``: the resolved setting (``stages.lift.augment.resolve_flip_features``);
    ``"extracted"`` opens the store's ``feat_flip`` maps too. Temporal lifters ignore it: their
    windows hold joint features, mirrored as before (``augment.flip_joint_features``).
    ``video_labels``: a temporal lifter's grouping of ``frames`` into videos instead of the store's
    index (:class:`SequenceDataset`); single-frame lifters ignore it."""
    core = getattr(model, "module", model)  # DDP wraps the lifter
    if isinstance(core, TemporalPoseFormer):
        return SequenceDataset(store_path, frames, level_names, window_frames=core.frames,
                               convention=core.ref_convention, read_joint_feats=core.context != "none",
                               frame_step=int(data_cfg["frame_step"]), window_chunk=int(train_cfg["window_chunk"]),
                               in_memory=bool(train_cfg["in_memory"]), reader=train_cfg["reader"],
                               memory_fraction=memory_fraction, video_labels=video_labels)
    return CacheBatchDataset(store_path, frames, level_names, read_maps=core.context != "none",
                             in_memory=bool(train_cfg["in_memory"]), reader=train_cfg["reader"],
                             memory_fraction=memory_fraction, dequantize=dequantize,
                             flip_maps=flip_features == "extracted")
