"""Person tracks of a clip, cached: the box stage's result is kept beside the feature stores, keyed by
everything it depends on, so a second ``capf infer`` of the same clip runs no detector at all
(neither for boxes nor, through the store's content key, for features).

Files in ``<cache_dir>/infer_boxes/``, written by rename (never half-written):
    ``<clip>-<key>.tracks.json``   frames, tracks, boxes, scores of every record + what made them
    ``<clip>-<key>.boxes.json``    the same boxes in the frame sources' boxes-JSON layout (frame key ->
                                   boxes in track order): what stage one's ``video``/``images`` source reads
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.infer.media import InputClip
from stages.infer.tracking import TrackedBox

FORMAT = "capf-infer-tracks-1"


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
        by_key.setdefault(clip.keys[record.frame], []).append([round(v, 3) for v in record.box_xyxy])
    _write_json_atomic(boxes_path, by_key)
    _write_json_atomic(tracks_path, {
        "format": FORMAT, "input": str(clip.path), "clip_sha256": clip.digest, "num_frames": len(clip),
        "source": source, "frame": [r.frame for r in records], "track": [r.track for r in records],
        "box": [[round(v, 3) for v in r.box_xyxy] for r in records], "score": [r.score for r in records]})
    rounded = [TrackedBox(r.frame, r.track, tuple(round(v, 3) for v in r.box_xyxy), r.score) for r in records]
    return CachedTracks(tracks_path, boxes_path, rounded, False, source.get("kind", "?"))


def records_arrays(records: list[TrackedBox]) -> dict[str, np.ndarray]:
    """Columns of the records: frame (R,), track (R,), box (R, 4), score (R,)."""
    return {"frame": np.array([r.frame for r in records], dtype=np.int64),
            "track": np.array([r.track for r in records], dtype=np.int64),
            "box": np.array([r.box_xyxy for r in records], dtype=np.float32).reshape(-1, 4),
            "score": np.array([r.score for r in records], dtype=np.float32)}
