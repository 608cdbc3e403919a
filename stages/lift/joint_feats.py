"""The store's joint features ``joint_feat/<l>``: every cached map sampled at the lifter's joints.

``joint_feat/<l>`` (N, 17, C_l) float16 holds level ``l`` bilinearly sampled at each frame's 17
reference points, exactly as :class:`~stages.lift.model.ContextAwarePoseFormer` samples its initial
context tokens: the same reference points (``kp2d_input`` in the H36M-17 layout, so the detector's
COCO joints are converted and external 2D is used as is: the features follow the store's 2D
source), the same pixel -> grid convention and padding (:mod:`stages.lift.sampling`), float32
arithmetic on the fp16 maps, rounded to fp16 once at the end. At HRNet-W32 that is 17 x 480
channels = 16 KB per frame, 23x less than the maps: the temporal models and the context ablations
without deformable sampling (``context`` = none, concat, fusion) read these instead of the maps.

``joint_feat_flip/<l>``, where the store has ``feat_flip`` (``capf extract --flip``): the mirrored
crop's maps sampled at the mirrored reference points (x -> W_in - 1 - x), joints in the unflipped
order. That is what the detector sees on a horizontally flipped crop, so a flipped temporal batch
(augmentation, flip test) reads it instead of swapping the left and right joints' features, which
is wrong wherever the look tells left from right.

They are computed from the cached maps, never by the detector: extraction adds them after the last
shard and again after the flip pass (``ensure_joint_feats``), and ``capf cache joint-feats STORE``
adds them to an older store.

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
FLIP_GROUP = "joint_feat_flip"  # the same from the mirrored crops' maps (feat_flip) at the mirrored joints


@dataclass(frozen=True)
class JointFeatResult:
    path: Path
    written: bool          # False: the store already had them (nothing done)
    frames: int
    seconds: float = 0.0
    bytes_per_frame: int = 0
    groups: tuple[str, ...] = ()  # the groups written (joint_feat, joint_feat_flip)

    def summary(self) -> str:
        if not self.written:
            return f"{self.path}: joint features present ({self.frames} frames); nothing to do"
        rate = self.frames / self.seconds if self.seconds else 0.0
        return (f"{self.path}: {' and '.join(self.groups)} of {self.frames} frames written in {self.seconds:.1f} s "
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


def joint_feat_info(store: FeatureStore, group: str = GROUP) -> dict | None:
    """The ``joint_feat`` (or ``joint_feat_flip``) group's attributes when it is complete, else None."""
    if not store.has(group):
        return None
    attrs = dict(store.group[group].attrs)
    return attrs if attrs.get("complete") else None


def require_joint_feats(store: FeatureStore, level_names: Sequence[str], convention: str, group: str = GROUP) -> dict:
    """The joint features' attributes, or a StoreError saying what is missing and how to add it."""
    info = joint_feat_info(store, group)
    fix = f"run `capf cache joint-feats {store.path}`"
    if info is None:
        if group == FLIP_GROUP:
            raise StoreError(f"{store.path} has no flip joint features ({FLIP_GROUP}/<level>, from feat_flip); {fix} "
                             "(after `capf extract --flip`), or set train.flip_features='mirrored' or "
                             "train.flip_aug=False")
        raise StoreError(f"{store.path} has no joint features ({GROUP}/<level>); {fix}")
    if info.get("convention") != convention:
        raise StoreError(f"{store.path}: joint features were sampled with ref_convention={info.get('convention')!r} "
                         f"but the model uses {convention!r}; {fix} --convention {convention} --overwrite")
    missing = [n for n in level_names if n not in info.get("levels", [])]
    if missing:
        raise StoreError(f"{store.path}: joint features lack levels {missing} (have {info.get('levels')}); "
                         f"{fix} --overwrite")
    return info


def sample_store_frames(store: FeatureStore, frames: np.ndarray, readers: dict, convention: str, *,
                        mirrored: bool = False) -> dict[str, np.ndarray]:
    """Joint features of ``frames`` from the maps ``readers`` read: level name -> ``(n, 17, C_l)`` float16.

    ``mirrored``: the maps are the mirrored crop's (``feat_flip``), sampled at the mirrored reference
    points (x -> W_in - 1 - x, the flip augmentation's crop joints), joints in their unflipped order;
    the flip permutes left and right after (``stages.lift.augment.flip_batch``)."""
    maps = [readers[lv.name].read(frames) for lv in store.levels]
    ref_px = reference_points_px(store, frames)
    if mirrored:
        ref_px[..., 0] = (input_size_wh(store)[0] - 1) - ref_px[..., 0]
    samples = joint_features(maps, ref_px, store.levels, input_size_wh(store), convention)
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


def _remove_stale_tmp(path: Path, group_name: str) -> None:
    for stale in Path(path).glob(f"{group_name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _is_current(info: dict | None, convention: str, level_names: list[str]) -> bool:
    return info is not None and info.get("convention") == convention and info.get("levels") == level_names


def write_joint_feats(store_path: Path, *, convention: str = "mmpose", overwrite: bool = False,
                      progress: bool = True) -> JointFeatResult:
    """Compute ``joint_feat/<l>`` for every frame and level of a complete store, and, where the store
    has complete ``feat_flip`` maps, ``joint_feat_flip/<l>`` from them (the mirrored crops' features
    at the mirrored joints: what a flipped temporal training batch and the flip test read).

    A group that is already complete with this convention is left alone unless ``overwrite``.
    Reads each shard's maps once (the fast shard reader) and writes whole shards.
    """
    if convention not in REF_CONVENTIONS:
        raise ValueError(f"convention must be one of {REF_CONVENTIONS}, got {convention!r}")
    store = FeatureStore.open(store_path)  # refuses an incomplete store
    level_names = [lv.name for lv in store.levels]
    wanted = [(GROUP, "feat", False)] + ([(FLIP_GROUP, "feat_flip", True)] if store.has_flip_features() else [])
    todo = [(group, maps, mirrored) for group, maps, mirrored in wanted
            if overwrite or not _is_current(joint_feat_info(store, group), convention, level_names)]
    if not todo:
        return JointFeatResult(store.path, False, store.num_frames)
    started = time.perf_counter()
    for group, maps, mirrored in todo:
        _write_group(store, group, maps, mirrored, convention, progress)
    seconds = time.perf_counter() - started
    per_frame = store.spec.num_joints * sum(lv.channels for lv in store.levels) * 2
    return JointFeatResult(store.path, True, store.num_frames, seconds, per_frame, groups=tuple(g for g, _, _ in todo))


def _write_group(store: FeatureStore, group_name: str, maps: str, mirrored: bool, convention: str,
                 progress: bool) -> None:
    """One joint-feature group, written aside and renamed into place whole."""
    _remove_stale_tmp(store.path, group_name)
    spec = store.spec
    tmp = store.path / f"{group_name}.tmp-{os.getpid()}-{time.time_ns()}"
    try:
        group = zarr.open_group(tmp, mode="w")
        compressors = chunk_compressors(spec.compression)
        for lv in store.levels:
            group.create_array(lv.name, shape=(spec.num_frames, spec.num_joints, lv.channels),
                               chunks=(1, spec.num_joints, lv.channels),
                               shards=(spec.shard_frames, spec.num_joints, lv.channels),
                               dtype="float16", compressors=compressors, fill_value=0,
                               attributes={"stride": lv.stride, "channels": lv.channels})
        readers = {lv.name: open_reader(store.path / maps / lv.name, "auto") for lv in store.levels}
        bar = _progress(spec.num_frames, progress, f"{store.path.name} ({group_name})")
        for shard in range(spec.num_shards):
            start, stop = spec.shard_bounds(shard)
            for name, values in sample_store_frames(store, np.arange(start, stop), readers, convention,
                                                    mirrored=mirrored).items():
                group[name][start:stop] = values
            bar.update(stop - start)
        bar.close()
        group.attrs.update({
            "complete": True,
            "levels": [lv.name for lv in store.levels],
            "convention": convention,
            "padding_mode": INITIAL_SAMPLE_PADDING[convention],
            "joints": "h36m17",
            "maps": maps,
            "reference_points": ("mirrored " if mirrored else "") + f"kp2d_input ({spec.joint_format}"
                                + (" -> h36m17)" if spec.joint_format == "coco17" else ")"),
            "dtype_note": "sampled in float32 from the fp16 maps, stored as float16",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        final = store.path / group_name
        if final.exists():  # replace: move the old one aside first, so one of the two is always whole
            old = store.path / f"{group_name}.tmp-old-{time.time_ns()}"
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def ensure_joint_feats(store_path: Path, *, progress: bool = True) -> JointFeatResult:
    """What extraction calls once a store (or its flip pass) is complete: add the joint features
    (and the flip ones, where the store has ``feat_flip``) if missing."""
    return write_joint_feats(store_path, progress=progress)


def _progress(total: int, enabled: bool, label: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=f"joint features {label}", disable=not enabled,
                dynamic_ncols=True, leave=False)
