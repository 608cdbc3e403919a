"""The live loop: frames from the reader thread through the frame pipeline to the outputs, with clocks.

The main thread takes the newest frame, runs it through ``FramePipeline`` and writes each frame
whose 3D is known as one JSON line, flushed at once (a Ctrl-C or a dying stream loses nothing
written). It stops at the end of a file, at Ctrl-C, at a frame limit, or when the source stops;
then a temporal lifter's waiting frames are lifted end-padded and the summary line is written.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from stages.live.frame_pipeline import FramePipeline, FrameResult
from stages.live.latency import LatencyLog, StageClock
from stages.live.reader import LatestFrameReader
from stages.live.records import frame_instances, frame_line, meta_line, summary_line
from stages.live.sources import SourceInfo
from stages.live.view import LiveView

PROGRESS_EVERY_S = 5.0


@dataclass
class LiveOutputs:
    """Where the results go: JSON lines (a file, else ``stream``), the picture (video file, window)."""

    jsonl: Path | None = None
    stream: IO[str] | None = None
    video: Path | None = None
    show: bool = False


class _Lines:
    def __init__(self, outputs: LiveOutputs):
        self.handle = open(outputs.jsonl, "w") if outputs.jsonl is not None else (outputs.stream or sys.stdout)
        self.owned = outputs.jsonl is not None

    def write(self, line: dict) -> None:
        self.handle.write(json.dumps(line) + "\n")
        self.handle.flush()

    def close(self) -> None:
        if self.owned:
            self.handle.close()


def run_live(reader: LatestFrameReader, pipeline: FramePipeline, outputs: LiveOutputs, *, meta: dict,
             warning: str | None, say: Callable[[str], None]) -> dict:
    """Run until the source ends or the user stops it; returns the summary line (also written last)."""
    info: SourceInfo = reader.info
    delay_frames = pipeline.delay_frames
    delay_ms = delay_frames / info.fps * 1e3 if info.fps else None
    lines = _Lines(outputs)
    view = (LiveView(info.size_wh, info.fps or 25.0, video=outputs.video, show=outputs.show)
            if outputs.video is not None or outputs.show else None)
    log = LatencyLog()
    lifted = 0
    started = last_progress = time.perf_counter()
    end = "end of file"

    def emit(results: list[FrameResult]) -> bool:
        nonlocal lifted
        keep_going = True
        for result in results:
            tick = time.perf_counter()
            instances = frame_instances(result.preds)
            if view is not None:
                keep_going = view.add(result.frame.image, result.preds, result.frame.index) and keep_going
            result.stages_ms["output"] += (time.perf_counter() - tick) * 1e3
            latency_ms = (time.perf_counter() - result.frame.capture_s) * 1e3
            lines.write(frame_line(frame=result.frame.index, capture_time=result.frame.wall_time,
                                   latency_ms=latency_ms, delay_frames=delay_frames, delay_ms=delay_ms,
                                   skipped=reader.frames_skipped, stages_ms=result.stages_ms, instances=instances))
            log.add_stages(result.stages_ms)
            log.add_latency(latency_ms)
            lifted += 1
        return keep_going

    lines.write(meta_line(source=info.spec, source_kind=info.kind, fps=info.fps, size_wh=list(info.size_wh),
                          pace=reader.pace, delay_frames=delay_frames, delay_ms=delay_ms, warning=warning, **meta))
    reader.start()
    try:
        try:
            while (frame := reader.next()) is not None:
                clock = StageClock()
                clock.ms["decode"] = frame.decode_ms
                if not emit(pipeline.process(frame, clock)):
                    end = "interrupted"
                    break
                now = time.perf_counter()
                if now - last_progress > PROGRESS_EVERY_S:
                    last_progress = now
                    say(f"{reader.frames_read} frames in, {lifted} lifted, {reader.frames_skipped} skipped, "
                        f"{lifted / (now - started):.1f} frames/s out")
        except KeyboardInterrupt:
            end = "interrupted"
        finally:
            reader.stop()
        emit(pipeline.finish(StageClock()))
        if end == "end of file" and reader.stopped_early:
            end = "stopped early"
        elif end == "end of file" and reader.max_frames is not None and reader.frames_read >= reader.max_frames:
            end = "frame limit"
        stats = log.summary()
        summary = summary_line(frames_in=reader.frames_read, frames_lifted=lifted, frames_skipped=reader.frames_skipped,
                               seconds=time.perf_counter() - started, latency_ms=stats["latency_ms"],
                               stages_ms=stats["stages_ms"], delay_frames=delay_frames, delay_ms=delay_ms, end=end,
                               stopped_early=reader.stopped_early if end == "stopped early" else None,
                               warning=warning)
        lines.write(summary)
        return summary
    finally:
        lines.close()
        if view is not None:
            view.close()


def format_summary(summary: dict) -> list[str]:
    """The summary as lines a person reads."""
    def stats(s: dict | None) -> str:
        return "n/a" if not s else f"p50 {s['p50']:.1f} / p95 {s['p95']:.1f} / max {s['max']:.1f} ms"

    out = [f"{summary['end']}: {summary['frames_in']} frames in, {summary['frames_lifted']} lifted, "
           f"{summary['frames_skipped']} skipped in {summary['seconds']:.1f} s",
           f"latency capture -> output: {stats(summary['latency_ms'])}"]
    if summary["delay_frames"]:
        delay = f" ({summary['delay_ms']:.0f} ms at the source's frame rate)" if summary["delay_ms"] else ""
        out.append(f"temporal lifter: frame t is output once frame t + {summary['delay_frames']} has arrived{delay}")
    out.append("per stage: " + "; ".join(f"{name} {stats(s)}" for name, s in summary["stages_ms"].items()))
    return out
