"""A validation split carved from the training frames, by whole videos, for tuning a recipe
without looking at the test split (``data.val_fraction``).

Whole videos (the store's ``video`` label, else subject/action/camera: :func:`stages.lift.sequences.
video_keys`) go to one side, so no validation frame has a training neighbour of the same video a
few milliseconds away. Every k-th video name in sorted order is held out (k = round(1 / fraction)),
starting from the middle of the first k: deterministic, and spread over subjects and actions
where names sort by them.
"""

from __future__ import annotations

import numpy as np

from cache.store import FeatureStore, StoreError
from stages.lift.dataset import lift_inputs
from stages.lift.sequences import video_keys


def held_out_videos(names: np.ndarray, fraction: float) -> np.ndarray:
    """The sorted unique video names of ``names`` that the validation split takes."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"data.val_fraction must be in (0, 1), got {fraction}")
    unique = np.unique(names)
    step = max(1, round(1.0 / fraction))
    return unique[step // 2::step]


def carve_validation(store: FeatureStore, frames: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` store frames: ``frames`` split by whole videos, both ascending."""
    frames = np.asarray(frames, dtype=np.int64)
    keys = video_keys(lift_inputs(store, frames).labels, len(frames))
    held = np.isin(keys, held_out_videos(keys, fraction))
    if held.all() or not held.any():
        raise StoreError(f"{store.path}: data.val_fraction={fraction} leaves "
                         f"{'no training' if held.all() else 'no validation'} video among "
                         f"{len(np.unique(keys))} training videos")
    return frames[~held], frames[held]
