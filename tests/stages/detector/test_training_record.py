"""The demo's detector record: a finished training is found again, also after the demo dir moves.

Training the detector is the demo's longest step, so its cache hit must not depend on where the
work dir lives. The requests here name a config that does not exist: a cache miss would try to
build it and fail, so only a hit can pass.
"""

import json
import shutil
from pathlib import Path

import pytest

from stages.detector.topdown import DetectorError
from stages.detector.training import train_detector, trained_detector

MISSING_CONFIG = "configs/detectors/no_such_detector.py"


def _finished_demo(root: Path, *, absolute_paths: bool = False) -> Path:
    """A demo dir as a finished detector training leaves it: data, checkpoint, record."""
    (root / "synth_h36m").mkdir(parents=True)
    work = root / "detector"
    work.mkdir()
    (work / "slim.pth").write_bytes(b"weights")
    data_root = str((root / "synth_h36m").resolve()) if absolute_paths else "../synth_h36m"
    checkpoint = str((work / "slim.pth").resolve()) if absolute_paths else "slim.pth"
    (work / "detector.json").write_text(json.dumps({
        "checkpoint": checkpoint, "sha256": "a" * 64, "pck": 0.5, "epochs": 3, "config": MISSING_CONFIG,
        "request": {"config": MISSING_CONFIG, "data_root": data_root, "max_epochs": 3, "batch_size": None,
                    "seed": 0}}))
    return root


def _ask(root: Path):
    return train_detector(MISSING_CONFIG, root / "synth_h36m", root / "detector", max_epochs=3)


def test_a_moved_demo_dir_keeps_its_detector(tmp_path):
    moved = tmp_path / "elsewhere" / "demo"
    moved.parent.mkdir()
    shutil.move(_finished_demo(tmp_path / "demo"), moved)
    found = _ask(moved)
    assert found.checkpoint == moved / "detector" / "slim.pth" and found.sha256 == "a" * 64
    assert trained_detector(moved / "detector").checkpoint == found.checkpoint


def test_a_record_with_absolute_paths_still_hits_where_it_was_written(tmp_path):
    root = _finished_demo(tmp_path / "demo", absolute_paths=True)
    assert _ask(root).checkpoint == (root / "detector" / "slim.pth").resolve()


def test_other_data_is_a_miss(tmp_path):
    root = _finished_demo(tmp_path / "demo")
    (tmp_path / "other").mkdir()
    with pytest.raises(DetectorError, match="no_such_detector.py: detector config not found"):
        train_detector(MISSING_CONFIG, tmp_path / "other", root / "detector", max_epochs=3)


def test_a_deleted_checkpoint_is_no_detector(tmp_path):
    root = _finished_demo(tmp_path / "demo")
    (root / "detector" / "slim.pth").unlink()
    assert trained_detector(root / "detector") is None
