"""`capf cache verify STORE` as a user runs it, on real stores that `capf extract` wrote and that
then had one byte of one chunk, or of one shard index, flipped on disk."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli import main
from tests.helpers import PROJECT_ROOT, slim_extract_config, write_config

SHARD_FRAMES = 2


@pytest.fixture(scope="module")
def compressed_store(h36m_root, tmp_path_factory) -> Path:
    """A complete blosc-zstd store of the 4-frame real sample, 2 shards of 2 frames. (Uncompressed
    chunks with a flipped byte: tests/cache/test_store.py, in process.)"""
    work = tmp_path_factory.mktemp("store")
    config = write_config(work / "extract.py", slim_extract_config(
        shard_frames=SHARD_FRAMES, cache={"compression": "blosc-zstd"}))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--random-init", "--cache-dir", str(work / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output
    (path,) = (work / "cache").glob("*.zarr")
    return path


@pytest.fixture
def store(compressed_store, tmp_path) -> Path:
    """A copy this test may break."""
    return Path(shutil.copytree(compressed_store, tmp_path / compressed_store.name))


def capf_verify(store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "cache", "verify", str(store)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def shard_file(store: Path, level: str, shard: int) -> Path:
    return store / "feat" / level / "c" / str(shard) / "0" / "0" / "0"


def shard_index(data: bytes) -> np.ndarray:
    """(SHARD_FRAMES, 2) offset, nbytes of each inner chunk: zarr's sharding codec puts the index at
    the end of the shard file, little-endian uint64 pairs followed by their crc32c (4 bytes)."""
    index_bytes = 16 * SHARD_FRAMES
    return np.frombuffer(data[-index_bytes - 4:-4], "<u8").reshape(SHARD_FRAMES, 2)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_a_good_store_verifies(store):
    run = capf_verify(store)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().startswith(f"{store}: ok (")


@pytest.mark.slow
def test_a_corrupt_compressed_chunk_is_named_by_array_and_frame(store):
    path = shard_file(store, "1", shard=1)
    offset, nbytes = shard_index(path.read_bytes())[1]  # frame 3: the second frame of shard 1
    flip_byte(path, int(offset + nbytes // 2))
    run = capf_verify(store)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 2, run.stderr
    assert lines[0].startswith(f"{store}/feat/1[3:4]: ") and "checksum" in lines[0].lower()
    assert lines[1].startswith(f"Error: {store}: 1 bad chunk(s) of ")


@pytest.mark.slow
def test_a_corrupt_shard_index_names_every_frame_of_the_shard(store):
    path = shard_file(store, "0", shard=1)
    size = path.stat().st_size
    flip_byte(path, size - 4 - 16 * SHARD_FRAMES)  # low byte of frame 2's offset in the index
    run = capf_verify(store)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == [f"{store}/feat/0[2:3]", f"{store}/feat/0[3:4]"], \
        run.stderr
    assert lines[-1].startswith(f"Error: {store}: 2 bad chunk(s) of ")
