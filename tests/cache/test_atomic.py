"""The one atomic write: a writer that fails leaves the old file whole and no temporary behind."""

from __future__ import annotations

import pytest

from cache.atomic import replace_atomically, write_text_atomic


def test_a_failed_write_keeps_the_old_file(tmp_path):
    target = write_text_atomic(tmp_path / "f.json", "old")

    def broken(tmp):
        tmp.write_text("half of the new")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomically(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1
