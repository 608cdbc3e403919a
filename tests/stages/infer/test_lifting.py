"""A lift checkpoint refuses a detector whose crop size or feature levels it was not trained on."""

import re

import pytest
import torch

from cache.store import LevelSpec
from stages.infer.lifting import LiftCheckpoint, LifterError, check_detector_fits
from stages.lift.checkpoints import ResumeError

SLIM = tuple(LevelSpec(str(i), s, c, 128 // s, 96 // s) for i, (s, c) in enumerate(zip((4, 8, 16, 32), (16, 32, 64, 128))))


def _checkpoint(tmp_path, levels=("0", "1", "2", "3"), strides=(4, 8, 16, 32), channels=(16, 32, 64, 128),
                size=(96, 128)):
    path = tmp_path / "best.pth"
    torch.save({"state_dict": {}, "meta": {"levels": list(levels), "model": {
        "level_strides": list(strides), "level_channels": list(channels), "input_size_wh": list(size)}}}, path)
    return LiftCheckpoint.load(path)


def test_a_matching_detector_passes_and_a_subset_of_levels_is_fine(tmp_path):
    check_detector_fits(_checkpoint(tmp_path), SLIM, (96, 128), "slim")
    check_detector_fits(_checkpoint(tmp_path, levels=("2", "3"), strides=(16, 32), channels=(64, 128)), SLIM,
                        (96, 128), "slim")
    assert len(_checkpoint(tmp_path).sha256) == 64


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=(192, 256)), "trained on 192x256 (w x h) crops but the detector slim crops 96x128"),
    (dict(channels=(32, 64, 128, 256)), "level 0 with stride 4, 32 ch but the detector slim has stride 4, 16 ch"),
    (dict(levels=("0", "1", "2", "4"), strides=(4, 8, 16, 64), channels=(16, 32, 64, 256)),
     "level 4 with stride 64, 256 ch but the detector slim has no such level"),
])
def test_a_detector_the_lifter_cannot_read_is_one_line(tmp_path, kwargs, message):
    with pytest.raises(LifterError, match=re.escape(message)) as error:
        check_detector_fits(_checkpoint(tmp_path, **kwargs), SLIM, (96, 128), "slim")
    assert "\n" not in str(error.value) and "best.pth" in str(error.value)


def test_missing_and_foreign_checkpoints_are_refused(tmp_path):
    with pytest.raises(LifterError, match="not found"):
        LiftCheckpoint.load(tmp_path / "nope.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(LifterError, match="not a CAPF lift checkpoint"):
        LiftCheckpoint.load(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ResumeError, match="unreadable"):
        LiftCheckpoint.load(tmp_path / "junk.pth")
