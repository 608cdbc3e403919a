"""The JSON lines ``capf live`` writes: one ``meta`` line, one ``frame`` line per processed frame, one
``summary`` line at the end. ``LINE_SCHEMA`` (JSON Schema, draft 2020-12) is the layout's only
record: docs/live.md prints it and the tests validate every line against the copy there.

A frame line's ``instances`` are ``capf infer``'s ``results_<name>.json`` instances (mmpose's
``split_instances`` dicts: ``keypoints`` 17 x 3 in metres on the body3d demo's axes (-x, z, -y), z
up, lowest joint at height 0; ``keypoint_scores``; ``bbox`` as ``[[x1, y1, x2, y2]]`` image
pixels; ``bbox_score``; ``track_id``) plus ``keypoints_2d``: the lifter's 2D input, 17 x 2 image
pixels in Human3.6M-17 order.
"""

from __future__ import annotations

import numpy as np

from stages.infer.outputs import Predictions, mmpose_instances
from stages.lift.joints import H36M_JOINT_NAMES
from stages.lift.report import to_jsonable
from stages.live.latency import STAGES

FORMAT = "capf-live-1"

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}


def _array(items: dict, n: int) -> dict:
    return {"type": "array", "items": items, "minItems": n, "maxItems": n}


def _point(n: int) -> dict:
    return _array(_NUMBER, n)


def _joints(n: int) -> dict:
    return _array(_point(n), 17)


_STATS = {"type": ["object", "null"], "required": ["p50", "p95", "max"],
          "properties": {k: _NUMBER for k in ("p50", "p95", "max")}, "additionalProperties": False}
_STAGE_MS = {"type": "object", "required": list(STAGES), "properties": {s: _NUMBER for s in STAGES},
             "additionalProperties": False}
_INSTANCE = {
    "type": "object",
    "required": ["track_id", "bbox", "bbox_score", "keypoints", "keypoint_scores", "keypoints_2d"],
    "properties": {"track_id": {"type": "integer", "minimum": 0},
                   "bbox": {"type": "array", "items": _point(4), "minItems": 1, "maxItems": 1},
                   "bbox_score": _NUMBER,
                   "keypoints": _joints(3), "keypoint_scores": {"type": "array", "items": _NUMBER, "minItems": 17,
                                                               "maxItems": 17},
                   "keypoints_2d": _joints(2)},
    "additionalProperties": False,
}
LINE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "one line of capf live's JSON lines",
    "oneOf": [
        {"type": "object", "required": ["type", "format", "source", "source_kind", "fps", "size_wh", "pace",
                                        "lifter", "temporal_frames", "delay_frames", "delay_ms", "joint_names",
                                        "warning"],
         "properties": {"type": {"const": "meta"}, "format": {"const": FORMAT}, "source": {"type": "string"},
                        "source_kind": {"enum": ["camera", "device", "stream", "file"]}, "fps": _NULLABLE_NUMBER,
                        "size_wh": _point(2), "pace": {"enum": ["realtime", "none"]}, "lifter": {"type": "string"},
                        "temporal_frames": {"type": ["integer", "null"]},
                        "delay_frames": {"type": "integer", "minimum": 0}, "delay_ms": _NULLABLE_NUMBER,
                        "joint_names": {"type": "array", "items": {"type": "string"}, "minItems": 17, "maxItems": 17},
                        "warning": {"type": ["string", "null"]}, "models": {"type": "object"}}},
        {"type": "object", "required": ["type", "frame", "capture_time", "latency_ms", "delay_frames", "delay_ms",
                                        "skipped", "stages_ms", "instances"],
         "properties": {"type": {"const": "frame"}, "frame": {"type": "integer", "minimum": 0},
                        "capture_time": _NUMBER, "latency_ms": _NUMBER,
                        "delay_frames": {"type": "integer", "minimum": 0}, "delay_ms": _NULLABLE_NUMBER,
                        "skipped": {"type": "integer", "minimum": 0}, "stages_ms": _STAGE_MS,
                        "instances": {"type": "array", "items": _INSTANCE}},
         "additionalProperties": False},
        {"type": "object", "required": ["type", "frames_in", "frames_lifted", "frames_skipped", "seconds",
                                        "latency_ms", "stages_ms", "delay_frames", "delay_ms", "end", "warning"],
         "properties": {"type": {"const": "summary"}, "frames_in": {"type": "integer", "minimum": 0},
                        "frames_lifted": {"type": "integer", "minimum": 0},
                        "frames_skipped": {"type": "integer", "minimum": 0}, "seconds": _NUMBER,
                        "latency_ms": _STATS, "stages_ms": {"type": "object", "required": list(STAGES),
                                                           "properties": {s: _STATS for s in STAGES}},
                        "delay_frames": {"type": "integer", "minimum": 0}, "delay_ms": _NULLABLE_NUMBER,
                        "end": {"enum": ["end of file", "interrupted", "stopped early", "frame limit"]},
                        "stopped_early": {"type": ["string", "null"]}, "warning": {"type": ["string", "null"]}}},
    ],
}


def meta_line(**fields) -> dict:
    return to_jsonable({"type": "meta", "format": FORMAT, "joint_names": list(H36M_JOINT_NAMES), **fields})


def frame_instances(preds: Predictions) -> list[dict]:
    """``capf infer``'s JSON instances of a frame's records, plus their 2D input (``keypoints_2d``)."""
    rows = np.arange(len(preds))[np.argsort(preds.track, kind="stable")]
    instances = mmpose_instances(preds, rows)
    for instance, row in zip(instances, rows):
        instance["keypoints_2d"] = preds.kp2d[row]
    return instances


def frame_line(*, frame: int, capture_time: float, latency_ms: float, delay_frames: int, delay_ms: float | None,
               skipped: int, stages_ms: dict, instances: list[dict]) -> dict:
    return to_jsonable({"type": "frame", "frame": frame, "capture_time": capture_time, "latency_ms": latency_ms,
                        "delay_frames": delay_frames, "delay_ms": delay_ms, "skipped": skipped,
                        "stages_ms": stages_ms, "instances": instances})


def summary_line(**fields) -> dict:
    return to_jsonable({"type": "summary", **fields})
