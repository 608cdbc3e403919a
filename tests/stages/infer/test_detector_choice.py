"""A detector checkpoint whose sha256 is not the one the lifter (or the extract config) names is refused
in one line before any feature is computed: other weights make other features."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from stages.infer.detector_choice import choose_detector
from stages.infer.lifting import LifterError
from tests.helpers import SLIM_DETECTOR, slim_extract_config, write_config


def _weights(path, content: bytes):
    path.write_bytes(content)
    return path, hashlib.sha256(content).hexdigest()


def test_infer_refuses_a_detector_checkpoint_the_lifter_was_not_trained_with(tmp_path):
    trained, digest = _weights(tmp_path / "trained.pth", b"the lifter's detector")
    other, _ = _weights(tmp_path / "other.pth", b"another detector")
    cfg = {"detector": {"config": SLIM_DETECTOR, "checkpoint_sha256": digest}}
    chosen = choose_detector(cfg, {}, detector_checkpoint=trained)
    assert chosen.checkpoint == trained and not chosen.random_init
    with pytest.raises(LifterError, match=rf"other.pth: sha256 \w{{12}}… is not the detector the lifter was trained "
                                          rf"with \({digest[:12]}…\)"):
        choose_detector(cfg, {}, detector_checkpoint=other)


def test_extract_refuses_a_checkpoint_that_is_not_the_configured_one_and_writes_nothing(tmp_path, h36m_copy):
    wrong, wrong_digest = _weights(tmp_path / "wrong.pth", b"not the configured weights")
    configured = "0" * 64
    config = write_config(tmp_path / "extract.py", slim_extract_config(detector={"checkpoint_sha256": configured}))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_copy),
                                       "--checkpoint", str(wrong), "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 1, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and line.startswith("Error: "), line
    assert f"wrong.pth: sha256 {wrong_digest[:12]}... does not match the configured {configured[:12]}..." in line
    assert not list((tmp_path / "cache").glob("*.zarr"))
