"""Shared fixtures: the real Human3.6M sample in ../shared/data, small datasets built from it, and a
small synthetic MPI-INF-3DHP."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA, make_h36m_copy, write_small_3dhp


@pytest.fixture(scope="session")
def h36m_root() -> Path:
    root = SHARED_DATA / "h36m"
    if not (root / "test_h36m_body3d.npz").is_file():
        pytest.fail(f"{root}: the shared Human3.6M sample is missing")
    return root


@pytest.fixture
def h36m_copy(tmp_path, h36m_root) -> Path:
    """12 real frames in a writable H36M root (tests may break it on purpose)."""
    return make_h36m_copy(h36m_root, tmp_path / "h36m", repeats=3)




@pytest.fixture(scope="session")
def synth_3dhp(tmp_path_factory) -> Path:
    """A small synthetic MPI-INF-3DHP in both layouts, written once per session (read-only: tests
    that break files use `synth_3dhp_copy`)."""
    return write_small_3dhp(tmp_path_factory.mktemp("synth3dhp") / "3dhp")


@pytest.fixture
def synth_3dhp_copy(tmp_path, synth_3dhp) -> Path:
    """A writable copy of the synthetic 3DHP."""
    return Path(shutil.copytree(synth_3dhp, tmp_path / "3dhp"))
