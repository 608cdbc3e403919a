"""How far mirrored maps are from the detector's maps of the mirrored crop (the flip study's why).

For each level: relative L2 distance, per frame, between the store's ``feat`` mirrored the way
``flip_features='mirrored'`` does it (``torch.flip`` plus the sub-cell shift) and the store's
``feat_flip`` (the detector run on the mirrored crop), beside the distance between the maps of two
different frames (frame i against frame i + 1 of the sample) as a yardstick.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def _relative_l2(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """(B,) ``|a - b| / |b|`` per frame over all channels and cells."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    return ((a - b).norm(dim=1) / b.norm(dim=1).clamp_min(1e-12)).numpy()


def flip_map_gap(store_path: Path, num_frames: int = 64, seed: int = 0) -> dict[str, dict[str, float]]:
    """Per level: mean relative L2 of mirrored vs extracted flip maps, and of two different frames."""
    from cache.store import FeatureStore
    from stages.lift.augment import FlipGeometry, flip_feature_maps

    store = FeatureStore.open(store_path)
    if not store.has_flip_features():
        raise ValueError(f"{store.path}: no complete feat_flip maps (run capf extract --flip)")
    frames = np.sort(np.random.default_rng(seed).choice(store.num_frames, min(num_frames, store.num_frames),
                                                        replace=False))
    levels = store.levels
    geometry = FlipGeometry(tuple(lv.stride for lv in levels), tuple(store.spec.input_size_wh))

    if store.spec.feature_dtype != "float16":
        raise ValueError(f"{store.path}: measure the gap on an fp16 store (this one holds 8-bit codes)")

    def maps(flip: bool) -> list[torch.Tensor]:
        return [torch.from_numpy(store.reader(lv.name, flip=flip).read(frames).astype(np.float32)) for lv in levels]

    plain, extracted = maps(False), maps(True)
    mirrored = flip_feature_maps(plain, geometry)
    return {lv.name: {"mirrored_vs_extracted": float(_relative_l2(m, e).mean()),
                      "another_frame": float(_relative_l2(p.roll(1, 0), p).mean()), "stride": lv.stride}
            for lv, m, e, p in zip(levels, mirrored, extracted, plain)}
