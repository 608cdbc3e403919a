"""Live latency as a benchmark: per-stage milliseconds at batch 1, and the frame's time against the 2D
detector's forward alone on the same frame.

Each frame of a real video is decoded and run through ``FramePipeline.process`` (the function
``capf live`` calls) and its JSON line is built, with the stage clocks of ``capf live``; right after
it, the detector's forward alone runs on the same crop (the frame's person box, one crop: batch 1),
so the two alternate frame by frame and the noise of a shared machine hits both alike. The first
``warmup`` frames (one-off allocations, kernel choice) are left out of both.

``live_vs_detector`` is the p50 of the whole frame / the p50 of the forward alone. With boxes from
the 2D detector's own bootstrap, the ``boxes`` stage is itself a detector forward (at the box
carried from the previous frame), so a frame costs two forwards; ``glue_vs_detector`` is what the
rest (decode, crop, lifter, output) adds, relative to one forward.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from stages.infer.person_tracks import BoxSettings
from stages.live.frame_pipeline import FramePipeline
from stages.live.latency import STAGES, LatencyLog, StageClock, percentiles
from stages.live.reader import CapturedFrame
from stages.live.records import frame_instances, frame_line


def _frames_of(video: Path):
    """The video's frames forever (it is reopened at its end), each with its decode time (ms)."""
    while True:
        capture = cv2.VideoCapture(str(video))
        while True:
            tick = time.perf_counter()
            ok, image = capture.read()
            if not ok:
                break
            yield image, (time.perf_counter() - tick) * 1e3
        capture.release()


def measure_live_latency(detector, lifter, video: Path, *, frames: int, warmup: int = 2,
                         kpt_thr: float = 0.0) -> dict:
    """Per-stage p50/p95 (ms), the frame's p50/p95 and ``live_vs_detector`` over ``frames`` measured frames."""
    pipeline = FramePipeline(detector, lifter, BoxSettings(kpt_thr=kpt_thr))
    log, frame_ms, alone_ms = LatencyLog(), [], []
    source = _frames_of(video)
    for k in range(warmup + frames):
        started = time.perf_counter()
        image, decode_ms = next(source)
        clock = StageClock()
        clock.ms["decode"] = decode_ms
        results = pipeline.process(CapturedFrame(k, image, started, time.time(), decode_ms), clock)
        for result in results:
            tick = time.perf_counter()
            json.dumps(frame_line(frame=k, capture_time=0.0, latency_ms=0.0, delay_frames=0, delay_ms=None, skipped=0,
                                  stages_ms=result.stages_ms, instances=frame_instances(result.preds)))
            result.stages_ms["output"] += (time.perf_counter() - tick) * 1e3
        total = (time.perf_counter() - started) * 1e3  # decode included
        boxes = results[0].preds.box if results else np.zeros((0, 4), np.float32)
        if not len(boxes):
            continue
        packed = [detector.crop(image, boxes[0])]
        batch = {"inputs": [p["inputs"] for p in packed], "data_samples": [p["data_samples"] for p in packed]}
        tick = time.perf_counter()
        detector.forward(batch)
        alone = (time.perf_counter() - tick) * 1e3
        if k >= warmup:
            log.add_stages(results[0].stages_ms)
            frame_ms.append(total)
            alone_ms.append(alone)
    if not frame_ms:
        raise ValueError(f"{video}: nobody found in any measured frame")
    stats = {name: percentiles(values) for name, values in log.stages.items()}
    frame_p50, alone_p50 = float(np.median(frame_ms)), float(np.median(alone_ms))
    glue = np.asarray(frame_ms) - np.asarray(log.stages["boxes"]) - np.asarray(log.stages["detector"])
    return {"stages_ms": {name: {k: stats[name][k] for k in ("p50", "p95")} for name in STAGES},
            "frame_ms": {k: percentiles(frame_ms)[k] for k in ("p50", "p95")},
            "detector_alone_ms": {k: percentiles(alone_ms)[k] for k in ("p50", "p95")},
            "live_vs_detector": frame_p50 / alone_p50,
            "glue_vs_detector": float(np.median(glue)) / alone_p50,
            "frames": len(frame_ms), "lifter": lifter.describe()}
