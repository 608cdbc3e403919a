"""The store's joint features ``joint_feat/<l>``: every cached map sampled at the lifter's joints.

``joint_feat/<l>`` (N, 17, C_l) float16 holds level ``l`` bilinearly sampled at each frame's 17
reference points, exactly as :class:`~stages.lift.model.ContextAwarePoseFormer` samples its initial
context tokens: the same reference points (``kp2d_input`` in the H36M-17 layout, so the detector's
COCO joints are converted and external 2D is used as is: the features follow the store's 2D
source), the same pixel -> grid convention and padding (:mod:`stages.lift.sampling`), float32
arithmetic on the fp16 maps, rounded to fp16 once at the end. At HRNet-W32 that is 17 x 480
channels = 16 KB per frame, 23x less than the maps: the temporal models and the context ablations
without deformable sampling (``context`` = none, concat, fusion) read these instead of the maps.

They are computed from the cached maps, never by the detector: extraction adds them after the last
shard (``ensure_joint_feats``) and ``capf cache joint-feats STORE`` adds them to an older store.

Layout: the maps' layout (one frame per inner chunk inside shards of ``shard_frames``, the store's
codecs with crc32c), so the readers and ``capf cache verify`` handle them like any level. The
``joint_feat`` group's attributes say how they were sampled and that they are complete.

Atomicity: the arrays are written into a temporary group inside the store and renamed to
``joint_feat`` only when every frame is written, so a reader never sees half of them; an error
removes the temporary group, and a later run removes any a killed run left behind.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import zarr

from cache.store import FeatureStore, StoreError, chunk_compressors
from stages.lift.joints import as_h36m17
from cache.readers import open_reader
from stages.lift.sampling import INITIAL_SAMPLE_PADDING, REF_CONVENTIONS, sample_joint_features

GROUP = "joint_feat"
_TMP_PREFIX = f"{GROUP}.tmp-"


@dataclass(frozen=True)
class JointFeatResult:
    path: Path
    written: bool          # False: the store already had them (nothing done)
    frames: int
    seconds: float = 0.0
    bytes_per_frame: int = 0

    def summary(self) -> str:
        if not self.written:
            return f"{self.path}: joint features present ({self.frames} frames); nothing to do"
        rate = self.frames / self.seconds if self.seconds else 0.0
        return (f"{self.path}: joint features of {self.frames} frames written in {self.seconds:.1f} s "
                f"({rate:.0f} frames/s, {self.bytes_per_frame} B/frame)")


def input_size_wh(store: FeatureStore) -> tuple[int, int]:
    """The detector input size (W, H) the maps and ``kp2d_input`` live in."""
    size = getattr(store.spec, "input_size_wh", None) or store.attrs["key_inputs"]["input_size_wh"]
    return int(size[0]), int(size[1])


def reference_points_px(store: FeatureStore, frames: np.ndarray) -> np.ndarray:
    """The lifter's reference points of ``frames``: ``kp2d_input`` in H36M-17 order, ``(n, 17, 2)``
    float32 detector-input pixels (the same points ``stages.lift.dataset.lift_inputs`` gives)."""
    kp = store.read("kp2d_input")[np.asarray(frames, dtype=np.int64)].astype(np.float32)
    try:
        return as_h36m17(kp, store.spec.joint_format)
    except ValueError as error:
        raise StoreError(f"{store.path}: {error}") from error


def joint_feat_info(store: FeatureStore) -> dict | None:
    """The ``joint_feat`` group's attributes when the store has complete joint features, else None."""
    if not store.has(GROUP):
        return None
    attrs = dict(store.group[GROUP].attrs)
    return attrs if attrs.get("complete") else None


def require_joint_feats(store: FeatureStore, level_names: Sequence[str], convention: str) -> dict:
    """The joint features' attributes, or a StoreError saying what is missing and how to add it."""
    info = joint_feat_info(store)
    fix = f"run `capf cache joint-feats {store.path}`"
    if info is None:
        raise StoreError(f"{store.path} has no joint features (joint_feat/<level>); {fix}")
    if info.get("convention") != convention:
        raise StoreError(f"{store.path}: joint features were sampled with ref_convention={info.get('convention')!r} "
                         f"but the model uses {convention!r}; {fix} --convention {convention} --overwrite")
    missing = [n for n in level_names if n not in info.get("levels", [])]
    if missing:
        raise StoreError(f"{store.path}: joint features lack levels {missing} (have {info.get('levels')}); "
                         f"{fix} --overwrite")
    return info


def sample_store_frames(store: FeatureStore, frames: np.ndarray, readers: dict, convention: str) -> dict[str, np.ndarray]:
    """Joint features of ``frames`` from the maps: level name -> ``(n, 17, C_l)`` float16."""
    maps = [readers[lv.name].read(frames) for lv in store.levels]
    samples = joint_features(maps, reference_points_px(store, frames), store.levels, input_size_wh(store), convention)
    return {lv.name: s for lv, s in zip(store.levels, samples)}


def joint_features(maps: Sequence[np.ndarray], ref_px: np.ndarray, levels: Sequence, input_size_wh: tuple[int, int],
                   convention: str) -> list[np.ndarray]:
    """Maps ``(n, C_l, H_l, W_l)`` float16 of ``levels`` (``LevelSpec``) sampled at ``ref_px`` ``(n, 17, 2)``
    detector-input pixels: ``(n, 17, C_l)`` float16 per level, as ``joint_feat/<l>`` stores them (the one
    computation, for a store's frames and for a live frame)."""
    samples = sample_joint_features(
        [torch.from_numpy(np.asarray(m)) for m in maps], torch.from_numpy(np.asarray(ref_px, dtype=np.float32)),
        level_strides=[lv.stride for lv in levels], input_size_wh=input_size_wh,
        convention=convention, padding_mode=INITIAL_SAMPLE_PADDING[convention])
    return [s.half().numpy() for s in samples]


def _remove_stale_tmp(path: Path) -> None:
    for stale in Path(path).glob(f"{_TMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)


def write_joint_feats(store_path: Path, *, convention: str = "mmpose", overwrite: bool = False,
                      progress: bool = True) -> JointFeatResult:
    """Compute ``joint_feat/<l>`` for every frame and level of a complete store.

    A store that already has complete joint features with this convention is left alone unless
    ``overwrite``. Reads each shard's maps once (the fast shard reader) and writes whole shards.
    """
    if convention not in REF_CONVENTIONS:
        raise ValueError(f"convention must be one of {REF_CONVENTIONS}, got {convention!r}")
    store = FeatureStore.open(store_path)  # refuses an incomplete store
    info = joint_feat_info(store)
    level_names = [lv.name for lv in store.levels]
    if (info is not None and not overwrite and info.get("convention") == convention
            and info.get("levels") == level_names):
        return JointFeatResult(store.path, False, store.num_frames)
    _remove_stale_tmp(store.path)
    started = time.perf_counter()
    spec = store.spec
    tmp = store.path / f"{_TMP_PREFIX}{os.getpid()}-{time.time_ns()}"
    try:
        group = zarr.open_group(tmp, mode="w")
        compressors = chunk_compressors(spec.compression)
        for lv in store.levels:
            group.create_array(lv.name, shape=(spec.num_frames, spec.num_joints, lv.channels),
                               chunks=(1, spec.num_joints, lv.channels),
                               shards=(spec.shard_frames, spec.num_joints, lv.channels),
                               dtype="float16", compressors=compressors, fill_value=0,
                               attributes={"stride": lv.stride, "channels": lv.channels})
        readers = {lv.name: open_reader(store.path / "feat" / lv.name, "auto") for lv in store.levels}
        bar = _progress(spec.num_frames, progress, store.path.name)
        for shard in range(spec.num_shards):
            start, stop = spec.shard_bounds(shard)
            for name, values in sample_store_frames(store, np.arange(start, stop), readers, convention).items():
                group[name][start:stop] = values
            bar.update(stop - start)
        bar.close()
        group.attrs.update({
            "complete": True,
            "levels": level_names,
            "convention": convention,
            "padding_mode": INITIAL_SAMPLE_PADDING[convention],
            "joints": "h36m17",
            "reference_points": f"kp2d_input ({spec.joint_format}"
                                + (" -> h36m17)" if spec.joint_format == "coco17" else ")"),
            "dtype_note": "sampled in float32 from the fp16 maps, stored as float16",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        final = store.path / GROUP
        if final.exists():  # replace: move the old one aside first, so one of the two is always whole
            old = store.path / f"{_TMP_PREFIX}old-{time.time_ns()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started
    per_frame = spec.num_joints * sum(lv.channels for lv in store.levels) * 2
    return JointFeatResult(store.path, True, spec.num_frames, seconds, per_frame)


def ensure_joint_feats(store_path: Path, *, progress: bool = True) -> JointFeatResult:
    """What extraction calls once a store is complete: add the joint features if missing."""
    return write_joint_feats(store_path, progress=progress)


def _progress(total: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=f"joint features {label}", disable=not enabled,
                dynamic_ncols=True, leave=False)
