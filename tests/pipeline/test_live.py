"""`capf live`: a video file lifted frame by frame equals `capf infer` on it, outputs are causal, a paced
source that outruns the pipeline skips (counted) in flat memory, bad sources are one line each, and
synthetic-trained models on real input say so. Checkpoints are the tiny ones test_infer.py trains."""

from __future__ import annotations

import json
import re
import tracemalloc
from pathlib import Path

import cv2
import h5py
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from stages.synth.clip import write_synthetic_clip
from tests.helpers import PROJECT_ROOT
from tests.pipeline.test_infer import FOOTBALL, lifter, temporal_lifter  # noqa: F401  (module fixtures)

DOC = PROJECT_ROOT / "docs" / "live.md"


def documented_schema() -> dict:
    """The JSON-lines layout as docs/live.md prints it (the block after "## The JSON lines")."""
    text = DOC.read_text()
    block = re.search(r"## The JSON lines.*?```json\n(.*?)```", text, re.S)
    assert block, f"{DOC}: no JSON schema block under '## The JSON lines'"
    return json.loads(block.group(1))


def run(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def read_lines(path: Path) -> list[dict]:
    schema = documented_schema()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    for line in lines:
        jsonschema.validate(line, schema)
    assert lines[0]["type"] == "meta" and lines[-1]["type"] == "summary"
    assert all(line["type"] == "frame" for line in lines[1:-1])
    return lines


def frames_of(lines: list[dict]) -> dict[int, list[dict]]:
    return {line["frame"]: line["instances"] for line in lines if line["type"] == "frame"}


def test_the_documented_layout_is_the_one_the_code_writes():
    from stages.live.records import LINE_SCHEMA

    assert documented_schema() == json.loads(json.dumps(LINE_SCHEMA))


def write_avi(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    """Motion-JPEG: every frame coded on its own, so two files that share their first frames decode
    them identically whatever follows."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


def decoded(video: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(video))
    frames = []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def synth_lift_config(lifter, tmp_path_factory) -> Path:  # noqa: F811
    """The tiny lifter's config, saying it was trained on CAPF's synthetic dataset (as the demo's does)."""
    path = tmp_path_factory.mktemp("synthcfg") / "synth.py"
    path.write_text(f"_base_ = [{str(lifter.parent / 'config.py')!r}]\ndataset = dict(name='synth_h36m')\n")
    return path


@pytest.mark.slow
def test_live_on_a_video_equals_capf_infer_frame_for_frame_and_warns_on_real_input(lifter, synth_lift_config,  # noqa: F811
                                                                                  tmp_path):
    args = ["--ckpt", lifter, "--lift-config", synth_lift_config, "--kpt-thr", "0"]
    code, output = run("infer", FOOTBALL, *args, "--cache-dir", tmp_path / "cache", "--out", tmp_path / "infer",
                       "--show-sampling", "none", "--quiet")
    assert code == 0, output
    code, live_output = run("live", FOOTBALL, *args, "--pace", "none", "--out", tmp_path / "x.jsonl",
                            "--video", tmp_path / "live.mp4")
    assert code == 0, live_output
    lines = read_lines(tmp_path / "x.jsonl")
    summary = lines[-1]
    assert summary["frames_in"] == summary["frames_lifted"] == 5 and summary["frames_skipped"] == 0
    assert summary["end"] == "end of file" and set(summary["stages_ms"]) == {"decode", "boxes", "crop", "detector",
                                                                              "lifter", "output"}
    assert "latency capture -> output: p50" in live_output and "5 frames in, 5 lifted, 0 skipped" in live_output

    infer_doc = json.loads((tmp_path / "infer" / "results_football_5frames.json").read_text())
    with h5py.File(tmp_path / "infer" / "predictions.h5", "r") as f:
        kp2d, frame_of = f["kp2d"][:], f["frame"][:]
        warning = f.attrs["warning"]
    live_frames = frames_of(lines)
    assert sorted(live_frames) == list(range(5))
    for k, expected in enumerate(info["instances"] for info in infer_doc["instance_info"]):
        got = live_frames[k]
        assert [i["track_id"] for i in got] == [i["track_id"] for i in expected] and len(got) >= 1
        for mine, theirs, row in zip(got, expected, np.flatnonzero(frame_of == k)):
            assert mine["bbox"] == theirs["bbox"]  # the same boxes
            np.testing.assert_allclose(mine["keypoints"], theirs["keypoints"], atol=1e-5, rtol=0)  # same 3D
            np.testing.assert_allclose(mine["keypoints_2d"], kp2d[row], atol=1e-4, rtol=0)
    assert cv2.VideoCapture(str(tmp_path / "live.mp4")).get(cv2.CAP_PROP_FRAME_COUNT) == 5

    # the demo-like (synthetic-trained) models on a real clip: one line, in every output of both commands
    assert warning.startswith("WARNING:") and "Using the authors' weights" in warning
    assert [line for line in output.splitlines() if "WARNING" in line] == [f"[infer] {warning}"]
    assert infer_doc["meta_info"]["warning"] == warning
    live_warning = lines[0]["warning"]
    assert live_warning == summary["warning"] and "football_5frames.mp4" in live_warning
    assert live_warning.replace(str(FOOTBALL), "") == warning.replace(str(FOOTBALL), "")
    assert sum("WARNING" in line for line in live_output.splitlines()) == 1


@pytest.mark.slow
def test_no_warning_on_the_synthetic_clip_or_for_models_not_trained_on_it(lifter, synth_lift_config,  # noqa: F811
                                                                          tmp_path):
    clip = write_synthetic_clip(tmp_path / "S9_Walking.54138969.mp4", n_frames=3, image_size=(128, 128))
    code, output = run("live", clip.video, "--ckpt", lifter, "--lift-config", synth_lift_config, "--pace", "none",
                       "--out", tmp_path / "synth.jsonl")
    assert code == 0, output
    assert read_lines(tmp_path / "synth.jsonl")[0]["warning"] is None and "WARNING" not in output
    # without --out the JSON lines are stdout and the messages stderr
    result = CliRunner().invoke(main, ["live", str(FOOTBALL), "--ckpt", str(lifter), "--pace", "none",
                                       "--max-frames", "1"])
    assert result.exit_code == 0, result.output
    (tmp_path / "real.jsonl").write_text(result.stdout)
    lines = read_lines(tmp_path / "real.jsonl")
    assert lines[0]["warning"] is None and lines[-1]["end"] == "frame limit" and "WARNING" not in result.output
    assert "[live] frame limit: 1 frames in, 1 lifted" in result.stderr


def _causal_pair(tmp_path: Path, change_after: int) -> tuple[Path, Path, int]:
    """Two MJPG videos with the same frames up to ``change_after`` and different ones after it."""
    clip = write_synthetic_clip(tmp_path / "S7_Walking.54138969.mp4", subject="S7", n_frames=12,
                                image_size=(160, 160))
    frames = decoded(clip.video)
    changed = frames[:change_after + 1] + [np.ascontiguousarray(f[:, ::-1]) for f in frames[change_after + 1:]]
    return write_avi(tmp_path / "a.avi", frames), write_avi(tmp_path / "b.avi", changed), len(frames)


def _lines_of_every_frame(video: Path, ckpt: Path, tmp_path: Path) -> tuple[list[dict], str]:
    code, output = run("live", video, "--ckpt", ckpt, "--kpt-thr", "0", "--pace", "none",
                       "--out", tmp_path / f"{video.stem}.jsonl")
    assert code == 0, output
    return read_lines(tmp_path / f"{video.stem}.jsonl"), output


@pytest.mark.slow
def test_a_single_frame_lifter_outputs_frame_t_from_frames_up_to_t(lifter, tmp_path):  # noqa: F811
    t = 5
    a, b, n = _causal_pair(tmp_path, t)
    out = {}
    for video in (a, b):
        lines, _ = _lines_of_every_frame(video, lifter, tmp_path)
        assert all(line["delay_frames"] == 0 for line in lines[1:-1])
        out[video.stem] = frames_of(lines)
    assert sorted(out["a"]) == list(range(n))
    for k in range(t + 1):
        assert out["a"][k] == out["b"][k], k  # bit for bit: nothing after t reached frame t's output
    assert any(out["a"][k] != out["b"][k] for k in range(t + 1, n))  # the change itself is seen


@pytest.mark.slow
def test_a_temporal_lifter_outputs_frame_t_once_t_plus_half_window_has_arrived(temporal_lifter, tmp_path):  # noqa: F811
    """T = 9: frame t depends on frames up to t + 4 and on nothing later; the delay is in every line."""
    t, half = 3, 4
    a, b, n = _causal_pair(tmp_path, t + half)
    out = {}
    for video in (a, b):
        lines, output = _lines_of_every_frame(video, temporal_lifter, tmp_path)
        assert lines[0]["temporal_frames"] == 9 and lines[0]["delay_frames"] == half
        assert lines[0]["delay_ms"] == pytest.approx(half / 25.0 * 1e3)
        assert all(line["delay_frames"] == half for line in lines[1:])
        assert "frame t is output once frame t + 4 has arrived" in output
        out[video.stem] = frames_of(lines)
    assert sorted(out["a"]) == list(range(n))  # the end is padded: every frame is lifted
    for k in range(t + 1):
        assert out["a"][k] == out["b"][k], k
    assert out["a"][t + 1] != out["b"][t + 1]  # its window reaches the first changed frame


@pytest.mark.slow
def test_a_paced_source_that_outruns_the_pipeline_skips_counted_frames_in_flat_memory(lifter, tmp_path,  # noqa: F811
                                                                                     monkeypatch):
    """3,000 frames of 48x48 at 1,000 frames/s: the pipeline keeps the newest frame, counts the others,
    and the memory traced at frame ~750 is what it is at the end (a queue of frames would grow ~20 MB)."""
    from stages.live import frame_pipeline

    rng = np.random.default_rng(0)
    frames = [np.full((48, 48, 3), rng.integers(0, 255), np.uint8) for _ in range(3000)]
    video = write_avi(tmp_path / "fast.avi", frames, fps=1000.0)
    traced: list[tuple[int, int]] = []
    process = frame_pipeline.FramePipeline.process

    def process_and_measure(self, frame, clock):
        traced.append((frame.index, tracemalloc.get_traced_memory()[0]))
        return process(self, frame, clock)

    monkeypatch.setattr(frame_pipeline.FramePipeline, "process", process_and_measure)
    tracemalloc.start()
    try:
        code, output = run("live", video, "--ckpt", lifter, "--kpt-thr", "0", "--out", tmp_path / "fast.jsonl")
    finally:
        tracemalloc.stop()
    assert code == 0, output
    lines = read_lines(tmp_path / "fast.jsonl")
    summary = lines[-1]
    indices = sorted(frames_of(lines))
    assert summary["frames_in"] == 3000 and summary["frames_skipped"] > 1000
    assert summary["frames_lifted"] + summary["frames_skipped"] == 3000 == summary["frames_in"]
    assert len(indices) == summary["frames_lifted"] and indices[-1] > 2000
    assert max(lines[i + 1]["skipped"] for i in range(len(indices))) == summary["frames_skipped"]
    early = next(memory for index, memory in traced if index >= 750)
    assert traced[-1][1] - early < 4 * 2**20, (early, traced[-1])


def _corrupt_image_sequence(tmp_path: Path) -> list[str]:
    folder = tmp_path / "seq"
    folder.mkdir()
    for k in range(8):
        cv2.imwrite(str(folder / f"{k:03d}.png"), np.full((64, 64, 3), 30 * k, np.uint8))
    (folder / "004.png").write_bytes(b"\x89PNG broken")
    return [str(folder / "%03d.png")]


@pytest.mark.slow
@pytest.mark.parametrize("make, message", [
    (lambda tmp: [tmp / "missing.mp4"], "missing.mp4: video file not found"),
    (lambda tmp: [_garbage(tmp)], "cannot open video (unreadable, or not a video file)"),
    (lambda tmp: ["97"], "camera 97: no such camera"),
    (lambda tmp: ["rtsp://127.0.0.1:9/none"], "OpenCV cannot open this stream"),
])
def test_a_source_that_cannot_be_opened_is_one_line(lifter, tmp_path, make, message):  # noqa: F811
    code, output = run("live", *make(tmp_path), "--ckpt", lifter, "--out", tmp_path / "x.jsonl")
    assert code == 1, output
    assert len(output.strip().splitlines()) == 1 and output.startswith("Error: ") and message in output, output
    assert not (tmp_path / "x.jsonl").exists()


def _garbage(tmp_path: Path) -> Path:
    (tmp_path / "garbage.mp4").write_bytes(b"\x00not a video at all" * 10)
    return tmp_path / "garbage.mp4"


@pytest.mark.slow
def test_a_stream_that_stops_midway_keeps_what_was_written_and_says_so_in_one_line(lifter, tmp_path):  # noqa: F811
    code, output = run("live", *_corrupt_image_sequence(tmp_path), "--ckpt", lifter, "--kpt-thr", "0",
                       "--out", tmp_path / "x.jsonl")
    assert code == 1, output
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: {tmp_path / 'seq' / '%03d.png'}: the stream stopped after 4 frames"], output
    lines = read_lines(tmp_path / "x.jsonl")
    assert lines[-1]["end"] == "stopped early" and lines[-1]["frames_in"] == 4 and len(frames_of(lines)) >= 1


def test_an_out_file_that_is_not_ours_is_never_overwritten(tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    code, output = run("live", FOOTBALL, "--ckpt", tmp_path / "none.pth", "--out", notes)
    assert code == 1 and "is not an earlier `capf live` output" in output
    assert notes.read_text() == "my notes\n"
