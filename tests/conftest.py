"""Shared fixtures: the real Human3.6M sample in ../shared/data and small datasets built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import SHARED_DATA, make_h36m_copy


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


