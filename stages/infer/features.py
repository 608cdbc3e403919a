"""Stage one for a clip: the extract config of its frames and tracked boxes, and the store it makes.

The clip goes through the ordinary ``video``/``images`` frame source with the tracks' boxes JSON, so
its crops, joints and feature maps are exactly what ``capf extract`` would store. The dataset name
carries the clip's content digest: a store's key hashes frame names and boxes, and two different
files called ``clip.mp4`` must not share a store.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cache.store import FeatureStore, StoreError
from stages.extract.plan import ExtractRequest, plan_extraction
from stages.extract.runner import ExtractResult, run_extraction
from stages.infer.detector_choice import DetectorChoice, build_detector
from stages.infer.media import InputClip
from stages.infer.person_tracks import CachedTracks, records_arrays

SHARD_FRAMES = 64
BATCH_SIZE = 16


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "input"


def clip_extract_request(clip: InputClip, tracks: CachedTracks, detector: DetectorChoice, cache_dir: Path, *,
                         device: str = "cpu", progress: bool = True) -> ExtractRequest:
    """The ``capf extract`` request of the clip's tracked boxes (ground truth from a video's sidecar)."""
    dataset = {"type": "video" if clip.kind == "video" else "images",
               "name": f"{_slug(clip.name)}-{clip.digest[:10]}", "boxes": str(tracks.boxes_path.resolve())}
    if clip.kind == "video":
        dataset["video"] = clip.path.name
        dataset["annotation"] = str(clip.ground_truth.resolve()) if clip.ground_truth is not None else None
    config = {
        "detector": {"name": detector.name, "config": detector.config, "seed": detector.seed,
                     "flip_test": detector.flip_test, "checkpoint_sha256": None,
                     "hrnet_levels": detector.hrnet_levels},
        "dataset": dataset,
        "kp2d": {"source": "detector"},
        "cache": {"shard_frames": SHARD_FRAMES, "compression": "none"},
        "runtime": {"batch_size": BATCH_SIZE, "num_workers": 0, "device": device},
    }
    return ExtractRequest(config=config, data_root=clip.root, cache_dir=Path(cache_dir),
                          checkpoint=detector.checkpoint, random_init=detector.random_init, device=device,
                          progress=progress)


def clip_features(request: ExtractRequest, tracks: CachedTracks, detector: DetectorChoice,
                  check_detector: Callable, *, detector_checked: bool = False) -> tuple[FeatureStore, ExtractResult]:
    """Find (cache hit) or extract the clip's store; its records are the tracks' records, in order.

    ``check_detector(levels, input_size_wh)`` runs before any extraction: on the store's levels for a
    hit, else on the detector's (built here to probe them unless ``detector_checked``).
    """
    plan = plan_extraction(request)
    if plan.complete_store() is not None:
        store = FeatureStore.open(plan.path)
        check_detector(store.levels, store.spec.input_size_wh)
    elif not detector_checked:
        probe = build_detector(detector, "cpu")
        check_detector(probe.levels, probe.input_size_wh)
    result = run_extraction(request, plan)
    store = FeatureStore.open(result.path)
    boxes = records_arrays(tracks.records)["box"]
    if store.num_frames != len(boxes) or not np.allclose(store.read("bbox"), boxes, atol=1e-3):
        raise StoreError(f"{store.path}: its records are not the tracks of {tracks.tracks_path}; delete both")
    return store, result
