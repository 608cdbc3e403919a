"""Chunk crc32c checks on a real zarr store: intact chunks pass once, a flipped byte is named."""

import multiprocessing
from pathlib import Path

import google_crc32c
import numpy as np
import pytest

from cache.checksum import ChunkChecksumError, ChunkVerifier, chunk_is_intact, crc32c, measure_crc32c
from cache.store import FeatureStore
from tests.cache.test_store import SPEC, new_store, shard_values


def _chunk(store: FeatureStore, level: str, frame: int) -> np.ndarray:
    """The encoded bytes (crc32c trailer included) of one frame's inner chunk, via the shard index."""
    shard, within = divmod(frame, SPEC.shard_frames)
    data = np.fromfile(store.path / "feat" / level / "c" / str(shard) / "0" / "0" / "0", dtype=np.uint8)
    index = data[-(16 * SPEC.shard_frames + 4):-4].view("<u8").reshape(-1, 2)
    offset, size = (int(v) for v in index[within])
    return data[offset:offset + size]


@pytest.fixture
def written_store(tmp_path) -> FeatureStore:
    store = new_store(tmp_path)
    for shard in range(SPEC.num_shards):
        store.write_shard(shard, shard_values(SPEC, shard))
    store.mark_complete_if_done()
    return store


def test_crc32c_agrees_with_the_one_zarr_writes_with():
    rng = np.random.default_rng(1)
    for size in (0, 1, 7, 4096, 368_640):
        data = rng.integers(0, 256, size, dtype=np.uint8)
        assert crc32c(data) == google_crc32c.value(data.tobytes())
    rates = measure_crc32c(frame_bytes=4096, frames=8, repeats=1)
    assert set(rates) == {"google_crc32c", "crc32c"} and all(r > 0 for r in rates.values())


def test_every_chunk_zarr_wrote_passes_and_is_checked_once(written_store):
    verifier = ChunkVerifier(written_store.path / "feat" / "0", SPEC.num_frames)
    for frame in range(SPEC.num_frames):
        chunk = _chunk(written_store, "0", frame)
        assert chunk_is_intact(chunk)
        verifier.check(frame, chunk)
        verifier.check(frame, chunk)
    assert verifier.chunks_checked == SPEC.num_frames


def test_a_flipped_byte_names_the_array_the_frame_and_the_verify_command(written_store):
    chunk = _chunk(written_store, "1", 3).copy()
    chunk[10] ^= 0x01
    verifier = ChunkVerifier(written_store.path / "feat" / "1", SPEC.num_frames)
    with pytest.raises(ChunkChecksumError) as caught:
        verifier.check(3, chunk)
    message = str(caught.value)
    assert "\n" not in message
    assert f"{written_store.path}/feat/1: frame 3 fails its crc32c check" in message
    assert f"capf cache verify {written_store.path}`" in message
    assert not verifier.is_verified(3)


def _check_in_child(verifier: ChunkVerifier, chunks: dict[int, np.ndarray]) -> None:
    for frame, chunk in chunks.items():
        verifier.check(frame, chunk)


@pytest.mark.slow
def test_forked_workers_share_what_is_verified(written_store):
    verifier = ChunkVerifier(written_store.path / "feat" / "0", SPEC.num_frames)
    chunks = {frame: _chunk(written_store, "0", frame) for frame in (1, 4)}
    child = multiprocessing.get_context("fork").Process(target=_check_in_child, args=(verifier, chunks))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert [verifier.is_verified(f) for f in range(SPEC.num_frames)] == [False, True, False, False, True]
    assert verifier.chunks_checked == 0  # the parent computed nothing


def test_a_pickled_verifier_starts_with_its_own_empty_bitmap(written_store):
    import pickle

    verifier = ChunkVerifier(Path(written_store.path) / "feat" / "0", SPEC.num_frames)
    verifier.check(0, _chunk(written_store, "0", 0))
    clone = pickle.loads(pickle.dumps(verifier))
    assert verifier.is_verified(0) and not clone.is_verified(0)
    clone.check(0, _chunk(written_store, "0", 0))
    assert clone.is_verified(0)
