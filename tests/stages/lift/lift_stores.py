"""Tiny but real feature stores (cache.store's writer) and lift configs for the stage-two tests.

Frames are poses of a random skeleton seen by a pinhole camera: `gt3d` (camera mm), `kp2d` its
projection (image px, two image sizes), `kp2d_input` the same joints in a 24x32 (w x h) crop, so a
lifter can learn something; feature maps are random fp16. Subjects alternate S1/S9, two actions,
consecutive frame numbers per video (MPJVE has pairs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cache.key import KeyInputs
from cache.store import FeatureStore, LevelSpec, StoreSpec, create_store
from stages.lift.joints import _COCO_DIRECT

INPUT_WH = (24, 32)
LEVELS = ((4, 8), (8, 16))  # (stride, channels)
IMAGE_SIZES = ((1000, 1002), (640, 480))


def h36m_to_coco_like(kp: np.ndarray) -> np.ndarray:
    """COCO-ordered joints whose H36M conversion gives back the limbs (eyes/ears/nose = head)."""
    coco = np.zeros_like(kp)
    for h36m, c in _COCO_DIRECT.items():
        coco[..., c, :] = kp[..., h36m, :]
    coco[..., 0:5, :] = kp[..., 10:11, :]
    coco[..., 0, :] = kp[..., 9, :]
    return coco


def depth_maps(kp_input: np.ndarray, depth_rel_mm: np.ndarray, level: LevelSpec,
               rng: np.random.Generator) -> np.ndarray:
    """Maps that carry what 2D joints lack: ``(n, C, H, W)`` float16 whose channel 0 is a depth image
    (each cell holds the root-relative depth / 400 mm of the joint nearest to it, as a renderer's
    z-buffer would) and whose other channels are noise. A lifter that samples the maps at the
    joints can read each joint's depth; one that sees only the 2D joints cannot.

    kp_input: ``(n, 17, 2)`` joints in input pixels; depth_rel_mm: ``(n, 17)``."""
    ys, xs = np.mgrid[0:level.height, 0:level.width].astype(np.float32) * level.stride  # cell u at pixel u*s
    cells = np.stack([xs, ys], -1).reshape(-1, 2)  # (H*W, 2)
    maps = rng.standard_normal((len(kp_input), level.channels, level.height * level.width)).astype(np.float32)
    for i, joints in enumerate(kp_input):
        nearest = np.argmin(((cells[:, None, :] - joints[None]) ** 2).sum(-1), axis=1)
        maps[i, 0] = depth_rel_mm[i, nearest] / 400.0
    return maps.reshape(len(kp_input), level.channels, level.height, level.width).astype(np.float16)


def make_store(path: Path, *, num_frames: int = 32, shard_frames: int = 8, joint_format: str = "coco17",
               compression: str = "none", levels=LEVELS, seed: int = 0,
               feature_dtype: str = "float16", planted_depth: bool = False,
               image_sizes=IMAGE_SIZES) -> FeatureStore:
    """``planted_depth``: the maps are ``depth_maps`` (signal a context-aware lifter can learn from)
    instead of noise. ``image_sizes``: frame i is seen in image ``image_sizes[i % len]`` (the default
    puts the training subject S1 in one size and S9 in the other)."""
    rng = np.random.default_rng(seed)
    n = num_frames
    w_in, h_in = INPUT_WH
    specs = tuple(LevelSpec(str(i), s, c, h_in // s, w_in // s) for i, (s, c) in enumerate(levels))
    spec = StoreSpec(num_frames=n, shard_frames=shard_frames, levels=specs, num_joints=17,
                     joint_format=joint_format, input_size_wh=INPUT_WH, compression=compression,
                     feature_dtype=feature_dtype)
    # 3D: a root 4 m in front of the camera, joints within +-400 mm
    gt3d = rng.uniform(-400, 400, (n, 17, 3)).astype(np.float32)
    gt3d[:, 0] = 0
    gt3d += np.array([0, 0, 4000], np.float32) + rng.uniform(-200, 200, (n, 1, 3)).astype(np.float32)
    sizes = np.array([image_sizes[i % len(image_sizes)] for i in range(n)], dtype=np.int32)
    centre = sizes[:, None, :] / 2
    kp2d_h36m = (1000.0 * gt3d[..., :2] / gt3d[..., 2:3] + centre).astype(np.float32)
    lo, hi = kp2d_h36m.min(axis=1, keepdims=True) - 20, kp2d_h36m.max(axis=1, keepdims=True) + 20
    kp_input_h36m = ((kp2d_h36m - lo) / (hi - lo) * (np.array(INPUT_WH, np.float32) - 1)).astype(np.float32)
    convert = h36m_to_coco_like if joint_format == "coco17" else (lambda a: a)
    videos = [f"S{1 if i % 2 == 0 else 9}_{'Walking' if (i // 2) % 2 == 0 else 'Eating'}.{54138969}"
              for i in range(n)]
    video_labels = sorted(set(videos))
    subjects = ["S1", "S9"]
    actions = ["Walking", "Eating"]
    key = KeyInputs("synthetic", "a" * 64, n, "b" * 64, f"random-init:{seed}", INPUT_WH, "detector",
                    feature_dtype=feature_dtype)
    create_store(path, spec, key,
                 {"image_size": sizes, "gt3d": gt3d, "index/frame": np.arange(n, dtype=np.int32) // 4},
                 {"subject": (np.arange(n) % 2, subjects),
                  "action": (np.array([(i // 2) % 2 for i in range(n)]), actions),
                  "video": (np.array([video_labels.index(v) for v in videos]), video_labels)},
                 attrs={})
    store = FeatureStore.open(path, mode="r+", allow_incomplete=True)
    for shard in range(spec.num_shards):
        start, stop = spec.shard_bounds(shard)
        if planted_depth:
            depth_rel = gt3d[start:stop, :, 2] - gt3d[start:stop, :1, 2]
            arrays = {f"feat/{lv.name}": depth_maps(kp_input_h36m[start:stop], depth_rel, lv, rng) for lv in specs}
        else:
            arrays = {f"feat/{lv.name}": rng.standard_normal((stop - start, lv.channels, lv.height, lv.width))
                      .astype(np.float16) for lv in specs}
        arrays.update(kp2d=convert(kp2d_h36m[start:stop]), kp2d_input=convert(kp_input_h36m[start:stop]),
                      score=np.ones((stop - start, 17), np.float32), det_kp2d=kp2d_h36m[start:stop],
                      affine=np.zeros((stop - start, 2, 3), np.float32))
        store.write_shard(shard, arrays)
    store.mark_complete_if_done()
    return FeatureStore.open(path)


def tiny_config(**sections) -> dict:
    """A lift config with a tiny model (embed 16, depth 1) for the stores above; sections override keys."""
    cfg = {
        "model": dict(type="ContextAwarePoseFormer", context="deformable", levels=[0, 1], embed_dim=16, depth=1,
                      num_levels_sampling_points=2, deformable_heads=4, spatial_heads=4, fusion_heads=4,
                      drop_path_rate=0.1),
        "detector_levels": dict(input_size_wh=INPUT_WH, strides=[s for s, _ in LEVELS],
                                channels=[c for _, c in LEVELS]),
        "train": dict(batch_size=4, epochs=2, lr=1e-3, offset_lr_mult=0.1, weight_decay=0.01, lr_decay=0.99,
                      flip_aug=True, amp=False, workers=0, in_memory=False, seed=0, log_interval=2, keep_ckpts=2),
        "data": dict(train_subjects=["S1"], test_subjects=["S9"]),
        "eval": dict(flip_test=True, batch_size=8, after_train=True),
    }
    for name, values in sections.items():
        cfg[name] = {**cfg.get(name, {}), **values}
    return cfg


def tiny_temporal_config(frames: int, context: str = "fusion", **sections) -> dict:
    """``tiny_config`` with a tiny temporal lifter over ``frames``: CA-PF-S (C = 8) with ``context``,
    or PoseFormer (8 per joint) for context="none"."""
    cfg = tiny_config(**sections)
    if context == "none":
        cfg["model"] = dict(type="PoseFormer", frames=frames, levels=[0, 1], joint_dim=8, depth=1, spatial_heads=4,
                            temporal_depth=1, temporal_heads=4, drop_path_rate=0.1)
    else:
        cfg["model"] = dict(type="ContextAwarePoseFormerS", context=context, frames=frames, levels=[0, 1], embed_dim=8,
                            depth=1, spatial_heads=4, fusion_heads=4, temporal_depth=1, temporal_heads=4,
                            drop_path_rate=0.1)
    return cfg


def add_flip_maps(path, maps_of) -> FeatureStore:
    """Write feat_flip/<l> = maps_of(level name, unflipped maps (B, C, H, W) float32) for every shard."""
    store = FeatureStore.open(path, mode="r+")
    store.add_flip_arrays()
    for shard in range(store.spec.num_shards):
        start, stop = store.spec.shard_bounds(shard)
        store.write_flip_shard(shard, {f"feat/{lv.name}": maps_of(lv.name, store.group[f"feat/{lv.name}"][start:stop]
                                                                  .astype(np.float32)).astype(np.float16)
                                       for lv in store.levels})
    assert store.mark_flip_complete_if_done()
    return FeatureStore.open(path)
