"""The one atomic file write of the project: checkpoints, run files, synthetic annotations.

A file is written under a temporary name beside its target and renamed over it, so a process
killed mid-write leaves the old file (or none), never half of a new one. The temporary name
carries the pid, so two processes writing the same target never share a temporary file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file, then rename it onto ``path``."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def write_text_atomic(path: Path, text: str) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_text(text))
