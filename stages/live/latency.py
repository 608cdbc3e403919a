"""Per-stage clocks of one frame and the run's latency statistics.

Stages, in the order a frame meets them: ``decode`` (``VideoCapture.read``), ``boxes`` (the person
boxes and their tracks), ``crop`` (mmpose's affine crop of each box), ``detector`` (the 2D
detector's forward: joints and feature maps), ``lifter`` (2D inputs, joint features for a temporal
lifter, the lifter's forward with its flip test), ``output`` (the JSON line, the video frame, the
window). End-to-end latency is capture -> the frame's JSON line written.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np

STAGES = ("decode", "boxes", "crop", "detector", "lifter", "output")


class StageClock:
    """Milliseconds per stage of one processing step; ``with clock("detector"): ...`` adds to a stage."""

    def __init__(self):
        self.ms = {name: 0.0 for name in STAGES}

    @contextlib.contextmanager
    def __call__(self, stage: str):
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.ms[stage] += (time.perf_counter() - tick) * 1e3


def percentiles(values) -> dict[str, float] | None:
    """p50 / p95 / max (ms) of a list of samples; None for none."""
    if not len(values):
        return None
    array = np.asarray(values, dtype=np.float64)
    return {"p50": float(np.percentile(array, 50)), "p95": float(np.percentile(array, 95)),
            "max": float(array.max())}


class LatencyLog:
    """Samples of every processed frame: per-stage ms and capture -> output ms."""

    def __init__(self):
        self.stages: dict[str, list[float]] = {name: [] for name in STAGES}
        self.latency_ms: list[float] = []

    def add_stages(self, ms: dict[str, float]) -> None:
        for name in STAGES:
            self.stages[name].append(float(ms[name]))

    def add_latency(self, ms: float) -> None:
        self.latency_ms.append(float(ms))

    def summary(self) -> dict:
        return {"latency_ms": percentiles(self.latency_ms),
                "stages_ms": {name: percentiles(values) for name, values in self.stages.items()}}
