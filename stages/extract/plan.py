"""From an extract config to a store path, without building a model: the frame index and the key.

Everything that can fail on bad input (annotations, images, boxes, detector config, checkpoint,
external 2D) fails here, before any store is touched. Stage two calls ``find_store`` to locate a
config's store: it computes the key (the checkpoint's sha256 is remembered per path, size and
mtime in the cache dir, so an unchanged multi-GB file is not re-read) and runs no detector code.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cache.key import KeyInputs, frame_index_digest, store_name
from cache.quantize import FEATURE_DTYPES
from cache.store import FeatureStore, StoreError
from stages.detector.topdown import (feature_config_digest, has_heatmap_head, input_size_wh, load_detector_config,
                                     verify_checkpoint)
from stages.extract.external2d import load_external_2d
from stages.extract.settings import extract_settings
from stages.extract.sources import FrameIndex, SourceError, build_source


@dataclass
class ExtractRequest:
    """Everything `capf extract` was asked to do. `config` is the extract config as a dict with
    `detector`, `dataset`, and optional `kp2d`, `cache`, `runtime` sections (defaults:
    configs/extract/defaults.py)."""

    config: dict
    data_root: Path
    cache_dir: Path
    checkpoint: Path | None = None
    random_init: bool = False
    device: str = "auto"
    batch_size: int | None = None
    num_workers: int | None = None
    max_shards: int | None = None  # stop after this many shards (tests; a deliberate partial run)
    flip: bool = False             # also write feat_flip/<l>: the maps of the mirrored crops (a second pass)
    progress: bool = True


@dataclass
class ExtractPlan:
    """What is known before any model is built: the index, the key and where the store lives."""

    index: FrameIndex
    key_inputs: KeyInputs
    path: Path
    external_2d: tuple[np.ndarray, np.ndarray] | None

    def complete_store(self) -> Path | None:
        """The store's path when it exists and is complete (a cache hit), else None."""
        if self.path.exists() and FeatureStore.open(self.path, allow_incomplete=True).is_complete():
            return self.path
        return None


def feature_dtype(cfg: dict) -> str:
    """``cache.dtype`` checked against the known feature types (it enters the key)."""
    dtype = str(cfg["cache"]["dtype"])
    if dtype not in FEATURE_DTYPES:
        raise StoreError(f"cache.dtype must be one of {FEATURE_DTYPES}, got {dtype!r}")
    return dtype


def plan_extraction(request: ExtractRequest) -> ExtractPlan:
    """Validate all inputs and compute the content key; touches no store (bad input fails here)."""
    cfg = extract_settings(request.config)
    index = build_source(cfg["dataset"], request.data_root).frame_index()
    det_cfg = cfg["detector"]
    mm_cfg = load_detector_config(det_cfg["config"])
    if cfg["kp2d"]["source"] == "detector" and not has_heatmap_head(mm_cfg):
        raise SourceError(f"{det_cfg['config']}: a backbone without a heatmap head gives no 2D joints; "
                          "set kp2d.source to 'external' (e.g. the CPN file) or 'ground_truth'")
    if request.random_init:
        checkpoint_sha = f"random-init:{det_cfg['seed']}"
    else:
        checkpoint_sha = verify_checkpoint(request.checkpoint, det_cfg.get("checkpoint_sha256"),
                                           memo_dir=request.cache_dir)
    external, kp2d_source = None, "detector"
    if cfg["kp2d"]["source"] == "external":
        joints, scores, kp2d_source = load_external_2d(Path(request.data_root) / cfg["kp2d"]["file"], index)
        external = (joints, scores)
    elif cfg["kp2d"]["source"] == "ground_truth":  # the paper's 3DHP setting: labelled 2D, detector maps
        if index.gt2d_px is None:
            raise SourceError(f"kp2d.source='ground_truth' but dataset {index.dataset!r} has no 2D labels")
        joints = np.ascontiguousarray(index.gt2d_px, dtype=np.float32)
        external = (joints, np.ones(joints.shape[:2], np.float32))
        kp2d_source = f"ground_truth:{hashlib.sha256(joints.tobytes()).hexdigest()}"  # the labels are the input
    key_inputs = KeyInputs(
        dataset=index.dataset,
        frame_index_sha256=frame_index_digest(index.image_names, index.bboxes_xyxy),
        num_frames=len(index),
        detector_config_sha256=feature_config_digest(mm_cfg, det_cfg["hrnet_levels"]),
        checkpoint_sha256=checkpoint_sha,
        input_size_wh=input_size_wh(mm_cfg),
        kp2d_source=kp2d_source,
        flip_test=bool(det_cfg["flip_test"]),
        extra=dict(index.key_extra),
        feature_dtype=feature_dtype(cfg),
    )
    name = store_name(index.dataset, det_cfg.get("name") or Path(det_cfg["config"]).stem, key_inputs)
    return ExtractPlan(index, key_inputs, Path(request.cache_dir) / name, external)
