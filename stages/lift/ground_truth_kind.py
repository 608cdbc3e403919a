"""Which 3D array a store's ground truth is, and the refusal to train on one and score on another.

MPI-INF-3DHP ships two 3D labels of the same motion: `annot3` (each subject's own bone lengths) and
`univ_annot3` (one universal skeleton, what the test set's evaluation scores). A lifter learns the
bone lengths it is trained on, so a model trained on `annot3` and scored on `univ_annot3` (or the
reverse) loses millimetres to the skeleton, not to its pose. Stores say per frame which array they
hold (`index/gt3d`; older official-layout stores in their key's `gt3d`); training refuses a train
and a validation split that disagree, and `capf eval` a store other than the checkpoint's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cache.store import FeatureStore, StoreError

GT3D_INDEX = "gt3d"


def joints_3d_of(store: FeatureStore, frames: np.ndarray) -> list[str]:
    """The 3D arrays (`annot3`, `univ_annot3`) the given frames' ground truth comes from, sorted;
    empty where the store does not say (Human3.6M, images, stores written before it was recorded)."""
    if store.has(f"index/{GT3D_INDEX}"):
        codes = np.unique(store.read(f"index/{GT3D_INDEX}")[np.asarray(frames, dtype=np.int64)])
        labels = store.labels(GT3D_INDEX)
        return sorted(labels[int(c)] for c in codes)
    recorded = (store.attrs.get("key_inputs", {}).get("extra") or {}).get(GT3D_INDEX)
    return [recorded] if recorded else []


def check_same_joints_3d(store: FeatureStore, train_frames: np.ndarray, val_frames: np.ndarray) -> list[str]:
    """Refuse (StoreError, one line) a training whose train and validation frames hold different 3D
    arrays; returns the training frames' (recorded in the checkpoint)."""
    train, val = joints_3d_of(store, train_frames), joints_3d_of(store, val_frames)
    if len(train) > 1 or len(val) > 1 or (train and val and train != val):
        raise StoreError(f"{store.path}: the training frames' 3D ground truth is {'+'.join(train)} but the "
                         f"test frames' is {'+'.join(val)}; extract both with one dataset.joints_3d "
                         "(the official layout reads univ_annot3 or annot3 for S1-S8 and TS1-TS6 alike)")
    return train


def check_checkpoint_joints_3d(trained_on: list[str] | None, store: FeatureStore, frames: np.ndarray,
                               checkpoint: Path) -> None:
    """Refuse (StoreError, one line) scoring a checkpoint on a store whose 3D ground truth is another
    array than the one it was trained on."""
    scored = joints_3d_of(store, frames)
    if trained_on and scored and list(trained_on) != scored:
        raise StoreError(f"{checkpoint} was trained on {'+'.join(trained_on)} ground truth, but {store.path} "
                         f"holds {'+'.join(scored)}: extract the test set with dataset.joints_3d="
                         f"'{trained_on[0]}', or train on a store of {scored[0]}")
