"""Person tracks of a clip, cached: the box source chosen (``box_source``), run and tracked
(``person_tracks``), and the result kept beside the feature stores, keyed by everything it depends
on, so a second ``capf infer`` of the same clip runs no detector at all (neither for boxes nor,
through the store's content key, for features).

Files in ``<cache_dir>/infer_boxes/``, written by rename (never half-written):
    ``<clip>-<key>.tracks.json``   frames, tracks, boxes, scores of every record + what made them
    ``<clip>-<key>.boxes.json``    the same boxes in the frame sources' boxes-JSON layout (frame key ->
                                   boxes in track order): what stage one's ``video``/``images`` source reads
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.infer.boxes import BoxError
from stages.infer.detector_choice import DetectorChoice
from stages.infer.media import InputClip
from stages.infer.tracking import TrackedBox

FORMAT = "capf-infer-tracks-1"
BOX_DECIMALS = 3  # boxes are kept (and cropped) at a thousandth of a pixel


def stored_box(box_xyxy) -> tuple[float, float, float, float]:
    """A box as the tracks files keep it and stage one crops it."""
    return tuple(round(float(v), BOX_DECIMALS) for v in box_xyxy)


@dataclass
class CachedTracks:
    tracks_path: Path
    boxes_path: Path
    records: list[TrackedBox]
    cache_hit: bool
    source: str


def tracks_key(clip: InputClip, source: dict) -> str:
    """16 hex digits of the sha256 of the clip's content digest and the box source's settings."""
    text = json.dumps({"format": FORMAT, "clip": clip.digest, "source": source}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _paths(cache_dir: Path, clip: InputClip, key: str) -> tuple[Path, Path]:
    folder = Path(cache_dir) / "infer_boxes"
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in clip.name) or "input"
    return folder / f"{stem}-{key}.tracks.json", folder / f"{stem}-{key}.boxes.json"


def _write_json_atomic(path: Path, doc) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def load_cached_tracks(cache_dir: Path, clip: InputClip, source: dict) -> CachedTracks | None:
    """The cached tracks of this clip and box source, or None when there are none (or they are broken)."""
    tracks_path, boxes_path = _paths(cache_dir, clip, tracks_key(clip, source))
    if not (tracks_path.is_file() and boxes_path.is_file()):
        return None
    try:
        doc = json.loads(tracks_path.read_text())
        records = [TrackedBox(int(f), int(t), tuple(float(v) for v in b), float(s))
                   for f, t, b, s in zip(doc["frame"], doc["track"], doc["box"], doc["score"])]
    except (ValueError, KeyError, TypeError):
        return None
    return CachedTracks(tracks_path, boxes_path, records, True, doc.get("source", {}).get("kind", "?"))


def save_tracks(cache_dir: Path, clip: InputClip, source: dict, records: list[TrackedBox]) -> CachedTracks:
    """Write both files (boxes JSON first: the tracks file is what marks the entry complete)."""
    tracks_path, boxes_path = _paths(cache_dir, clip, tracks_key(clip, source))
    tracks_path.parent.mkdir(parents=True, exist_ok=True)
    by_key: dict[str, list[list[float]]] = {}
    for record in records:
        by_key.setdefault(clip.keys[record.frame], []).append(list(stored_box(record.box_xyxy)))
    _write_json_atomic(boxes_path, by_key)
    _write_json_atomic(tracks_path, {
        "format": FORMAT, "input": str(clip.path), "clip_sha256": clip.digest, "num_frames": len(clip),
        "source": source, "frame": [r.frame for r in records], "track": [r.track for r in records],
        "box": [list(stored_box(r.box_xyxy)) for r in records], "score": [r.score for r in records]})
    rounded = [TrackedBox(r.frame, r.track, stored_box(r.box_xyxy), r.score) for r in records]
    return CachedTracks(tracks_path, boxes_path, rounded, False, source.get("kind", "?"))


def records_arrays(records: list[TrackedBox]) -> dict[str, np.ndarray]:
    """Columns of the records: frame (R,), track (R,), box (R, 4), score (R,)."""
    return {"frame": np.array([r.frame for r in records], dtype=np.int64),
            "track": np.array([r.track for r in records], dtype=np.int64),
            "box": np.array([r.box_xyxy for r in records], dtype=np.float32).reshape(-1, 4),
            "score": np.array([r.score for r in records], dtype=np.float32)}


@dataclass(frozen=True)
class BoxSettings:
    """Where the boxes come from (see ``stages.infer.boxes``) and how they are tracked."""

    person_config: Path | None = None      # mmdet person detector
    person_checkpoint: Path | None = None
    boxes: Path | None = None              # a boxes JSON
    max_people: int | None = None
    kpt_thr: float = 0.3
    bbox_thr: float = 0.3
    nms_thr: float = 0.3
    iou_thr: float = 0.3


def box_source(settings: BoxSettings, detector: DetectorChoice) -> dict:
    """The source's kind and everything its boxes depend on (the tracks' cache key)."""
    from cache.key import sha256_file
    from stages.detector.topdown import feature_config_digest, load_detector_config
    from stages.infer.boxes import GROW, MIN_CONFIDENT_JOINTS

    tracking = {"max_people": settings.max_people, "iou_thr": settings.iou_thr}
    if settings.person_config is not None or settings.person_checkpoint is not None:
        if settings.boxes is not None:
            raise BoxError("give either an mmdet person detector or --boxes, not both")
        if settings.person_config is None or settings.person_checkpoint is None:
            raise BoxError("an mmdet person detector needs both --person-config and --person-checkpoint")
        for label, path in (("person detector config", settings.person_config),
                            ("person detector checkpoint", settings.person_checkpoint)):
            if not Path(path).is_file():
                raise BoxError(f"{path}: {label} not found")
        return {"kind": "mmdet", "config_sha256": sha256_file(settings.person_config),
                "checkpoint_sha256": sha256_file(settings.person_checkpoint), "bbox_thr": settings.bbox_thr,
                "nms_thr": settings.nms_thr, "category": 0, **tracking}
    if settings.boxes is not None:
        if not Path(settings.boxes).is_file():
            raise BoxError(f"{settings.boxes}: boxes file not found")
        return {"kind": "json", "sha256": sha256_file(settings.boxes), **tracking}
    weights = f"random-init:{detector.seed}" if detector.random_init else sha256_file(detector.checkpoint)
    return {"kind": "2d-detector", "config_sha256": feature_config_digest(load_detector_config(detector.config)),
            "checkpoint_sha256": weights, "kpt_thr": settings.kpt_thr, "min_joints": MIN_CONFIDENT_JOINTS,
            "grow": GROW, **tracking}


def person_tracks(clip: InputClip, settings: BoxSettings, detector: DetectorChoice, cache_dir: Path, *,
                  device: str = "cpu", check_detector: Callable | None = None, progress: bool = True):
    """``(CachedTracks, TopdownDetector | None)``: the cached tracks, or the box source run and tracked.

    ``check_detector(levels, input_size_wh)`` runs on a 2D detector built here before its pass, so a
    lifter that cannot read it fails before any frame is processed. ``BoxError`` when nobody is found.
    """
    from stages.infer.boxes import MmdetPersonDetector, boxes_from_json, boxes_from_mmdet, boxes_from_pose_detector
    from stages.infer.detector_choice import build_detector
    from stages.infer.tracking import track_boxes

    source = box_source(settings, detector)
    cached = load_cached_tracks(cache_dir, clip, source)
    if cached is not None:
        return cached, None
    model = None
    if source["kind"] == "mmdet":
        mmdet = MmdetPersonDetector(settings.person_config, settings.person_checkpoint, device=device,
                                    score_thr=settings.bbox_thr, nms_thr=settings.nms_thr)
        boxes = boxes_from_mmdet(mmdet, clip, progress=progress)
    elif source["kind"] == "json":
        boxes = boxes_from_json(settings.boxes, clip)
    else:
        model = build_detector(detector, device)
        if check_detector is not None:
            check_detector(model.levels, model.input_size_wh)
        boxes = boxes_from_pose_detector(model, clip, kpt_thr=settings.kpt_thr, progress=progress)
    records = track_boxes(boxes, len(clip), max_people=settings.max_people, iou_thr=settings.iou_thr)
    if not records:
        how = {"mmdet": f"the mmdet detector at score > {settings.bbox_thr}", "json": str(settings.boxes),
               "2d-detector": f"the 2D detector (joint confidence {settings.kpt_thr})"}[source["kind"]]
        raise BoxError(f"{clip.path}: no person found in any of its {len(clip)} frames by {how}")
    return save_tracks(cache_dir, clip, source, records), model
