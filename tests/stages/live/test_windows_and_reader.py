"""Causal windows of a temporal lifter (against the offline windows `capf infer` reads), the reader's
newest-frame-wins slot, the source kinds, and the warning's rules."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stages.infer.detector_choice import DetectorChoice
from stages.infer.trust import is_synthetic_clip, synthetic_training, untrusted_models_warning
from stages.lift.sequences import group_videos, windows
from stages.live.reader import LatestFrameReader
from stages.live.sources import LiveSourceError, open_source, source_kind
from stages.live.windows import CausalWindows, WindowFrame


def _frame(track: int, k: int) -> WindowFrame:
    return WindowFrame(np.full((17, 2), k, np.float32), [], (track, k))


@pytest.mark.parametrize("frames", [1, 3, 9])
def test_causal_windows_are_the_offline_windows_each_released_as_soon_as_complete(frames):
    """Two tracks over 12 frames, the second missing from frames 5 and 6 (its sequence is cut there):
    every target comes out once, with the window `stages.lift.sequences.windows` gives it offline,
    and no later than h frames after it (earlier only where its sequence ended)."""
    half = frames // 2
    present = {0: list(range(12)), 1: [k for k in range(12) if k not in (5, 6)]}
    live = CausalWindows(frames)
    released: dict[tuple[int, int], tuple[int, list]] = {}
    for step in range(12):
        people = {t: _frame(t, step) for t, ks in present.items() if step in ks}
        for ready in live.push(people):
            released[ready.target.payload] = (step, [m.payload[1] for m in ready.window])
    for ready in live.finish():
        released[ready.target.payload] = (12, [m.payload[1] for m in ready.window])

    labels = {"video": [], "frame": []}
    for track, ks in present.items():
        labels["video"] += [f"track{track}"] * len(ks)
        labels["frame"] += ks
    videos = group_videos({k: np.asarray(v) for k, v in labels.items()}, len(labels["frame"]))
    order_frames = np.asarray(labels["frame"])[videos.order]
    order_tracks = np.asarray([int(v[5:]) for v in labels["video"]])[videos.order]
    offline = windows(videos, np.arange(len(order_frames)), frames)
    assert len(released) == len(order_frames)
    for position, (track, k) in enumerate(zip(order_tracks, order_frames)):
        step, window = released[(int(track), int(k))]
        assert window == order_frames[offline[position]].tolist(), (track, k)
        assert step <= k + half and max(window) <= step  # never a frame from the future of the release


def test_memory_of_the_windows_is_bounded():
    live = CausalWindows(9)
    for step in range(500):
        live.push({0: _frame(0, step)})
    assert len(live.tracks[0].frames) == 9


def write_video(path: Path, n: int, fps: float, size: int = 32) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    for k in range(n):
        writer.write(np.full((size, size, 3), k % 250, np.uint8))
    writer.release()
    return path


def drain(video: Path, pace: str, seconds_per_frame: float) -> tuple[LatestFrameReader, list[int]]:
    """Read ``video`` through the reader, taking ``seconds_per_frame`` over each frame taken."""
    reader = LatestFrameReader(*open_source(str(video)), pace=pace).start()
    taken = []
    while (frame := reader.next()) is not None:
        taken.append(frame.index)
        time.sleep(seconds_per_frame)
    reader.stop()
    return reader, taken


def test_the_newest_frame_wins_and_the_others_are_counted(tmp_path):
    reader, taken = drain(write_video(tmp_path / "v.avi", 400, fps=1000.0), "realtime", 0.01)  # a slow pipeline
    assert reader.frames_read == 400 and taken == sorted(taken) and taken[-1] == 399
    assert reader.frames_skipped == 400 - len(taken) > 300 and reader.stopped_early is None


def test_unpaced_files_skip_nothing(tmp_path):
    reader, taken = drain(write_video(tmp_path / "v.avi", 50, fps=1000.0), "none", 0.001)
    assert taken == list(range(50)) and reader.frames_skipped == 0


def test_source_kinds_and_one_line_errors(tmp_path):
    assert [source_kind(s) for s in ("0", "rtsp://x/y", "/dev/video3", "a/%04d.png", "clip.mp4")] == [
        "camera", "stream", "device", "stream", "file"]
    with pytest.raises(LiveSourceError, match="camera 93: no such camera"):
        open_source("93")
    with pytest.raises(LiveSourceError, match="nothing.mp4: video file not found"):
        open_source(str(tmp_path / "nothing.mp4"))


def _choice(name: str) -> DetectorChoice:
    return DetectorChoice("configs/detectors/hrnet_slim_128x96.py", name, None, True, 0, False, None)


def test_synthetic_trained_models_are_told_by_their_own_records(tmp_path):
    real = {"dataset": {"name": "h36m"}}
    assert synthetic_training(real, {}, _choice("hrnet_w32"), demo=False) is None
    assert "'synth_h36m'" in synthetic_training({"dataset": {"name": "synth_h36m"}}, {}, _choice("x"), demo=False)
    assert "hrnet_slim_synth" in synthetic_training(real, {}, _choice("hrnet_slim_synth"), demo=False)
    assert "demo" in synthetic_training(real, {}, _choice("hrnet_w32"), demo=True)
    assert untrusted_models_warning(None, "clip.mp4", synthetic_input=False) is None
    assert untrusted_models_warning("why", "clip.mp4", synthetic_input=True) is None
    line = untrusted_models_warning("why", "clip.mp4", synthetic_input=False)
    assert "\n" not in line and "clip.mp4" in line and "docs/authors_weights.md" in line


def test_only_the_synthetic_clip_writers_output_counts_as_synthetic_input(tmp_path):
    from stages.synth.clip import write_synthetic_clip
    from tests.helpers import SHARED_DATA

    clip = write_synthetic_clip(tmp_path / "S9_Walking.54138969.mp4", n_frames=2, image_size=(64, 64))
    assert is_synthetic_clip(clip.video)
    assert not is_synthetic_clip(SHARED_DATA / "video" / "football_5frames.mp4")
    clip.video.with_suffix(".boxes.json").unlink()
    assert not is_synthetic_clip(clip.video)
