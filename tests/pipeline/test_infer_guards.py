"""`capf infer` refuses, in one line and before any work, what it cannot do without losing a user's
files or ignoring an option: an --out that publishing would delete, --show-sampling frames outside the
input, --boxes together with --person-config."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.helpers import SHARED_DATA

VIDEO = SHARED_DATA / "video" / "football_5frames.mp4"  # 5 frames


def _infer(tmp_path, *args) -> tuple[int, str]:
    # --ckpt names no file: every refusal below must come before the checkpoint is even opened
    result = CliRunner().invoke(main, ["infer", str(VIDEO), "--ckpt", str(tmp_path / "no_such.pth"),
                                       "--cache-dir", str(tmp_path / "cache"), "--quiet", *map(str, args)])
    return result.exit_code, result.output


def _files(folder) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _earlier_output(folder):
    (folder / "sampling").mkdir(parents=True)
    for name in ("predictions.h5", "results_football_5frames.json", "football_5frames_3d.mp4", "sampling/frame_0.png"):
        (folder / name).write_bytes(b"an earlier run's " + name.encode())
    return folder


@pytest.mark.parametrize("make, message", [
    (lambda out: (out.mkdir(), (out / "thesis.tex").write_text("mine")),
     "exists and is not an earlier `capf infer` output"),
    (lambda out: out.write_text("a file"), "exists and is not an earlier `capf infer` output"),
    (lambda out: (_earlier_output(out), (out / "notes.txt").write_text("mine")), "holds 'notes.txt'"),
    (lambda out: (_earlier_output(out), (out / "sampling" / "mine.png").write_bytes(b"x")),
     "holds 'sampling/mine.png'"),
])
def test_an_out_whose_replacement_would_delete_a_users_files_is_refused(tmp_path, make, message):
    out = tmp_path / "out"
    make(out)
    before = _files(out) if out.is_dir() else out.read_bytes()
    code, output = _infer(tmp_path, "--out", out)
    assert code == 1 and message in output, output
    assert output.strip().startswith("Error: ") and len(output.strip().splitlines()) == 1, output
    assert (_files(out) if out.is_dir() else out.read_bytes()) == before  # nothing lost


def test_an_earlier_output_passes_the_guard(tmp_path):
    out = _earlier_output(tmp_path / "out")
    code, output = _infer(tmp_path, "--out", out)
    assert code == 1 and "no_such.pth" in output, output  # refused later, for the missing checkpoint


@pytest.mark.parametrize("frames, bad", [("0,5", 5), ("2,-1", -1), ("99", 99)])
def test_show_sampling_outside_the_input_is_refused_naming_the_frame(tmp_path, frames, bad):
    code, output = _infer(tmp_path, "--out", tmp_path / "out", "--show-sampling", frames)
    assert code == 1, output
    assert f"--show-sampling frame {bad} is outside {VIDEO}'s 5 frames" in output, output
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_boxes_and_person_config_together_are_refused(tmp_path):
    boxes = tmp_path / "boxes.json"
    boxes.write_text("{}")
    code, output = _infer(tmp_path, "--out", tmp_path / "out", "--boxes", boxes, "--person-config",
                          tmp_path / "rtmdet.py")
    assert code == 1 and "both give person boxes; pass one of them" in output, output
    assert not (tmp_path / "out").exists()
