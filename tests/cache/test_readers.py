"""The shard readers behind FeatureStore.reader, against zarr-python on real (tiny) stores."""

from __future__ import annotations

import numpy as np
import pytest

from cache.readers import ShardMmapReader, TensorstoreReader, ZarrReader, open_reader
from cache.store import StoreError
from tests.stages.lift.lift_stores import make_store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("readers") / "s.zarr", num_frames=32, shard_frames=8)


@pytest.mark.parametrize("compression", ["none", "blosc-zstd"])
def test_every_reader_returns_what_zarr_reads(tmp_path, compression):
    store = make_store(tmp_path / "s.zarr", num_frames=20, shard_frames=8, compression=compression)
    frames = np.array([0, 3, 7, 8, 15, 16, 19])
    for name in ("0", "1"):
        path = store.path / "feat" / name
        expected = ZarrReader(path).read(frames)
        assert expected.shape == (7, *store.group[f"feat/{name}"].shape[1:])
        for reader in (ShardMmapReader(path), TensorstoreReader(path)):
            np.testing.assert_array_equal(reader.read(frames), expected)
            out = np.zeros_like(expected)
            assert reader.read(frames, out=out) is out
            np.testing.assert_array_equal(out, expected)
        assert isinstance(open_reader(path), ShardMmapReader)  # auto: our layout, compressed or not


def test_mmap_reader_keeps_a_bounded_number_of_shards_open(store):
    reader = ShardMmapReader(store.path / "feat" / "0", max_open=2)
    expected = ZarrReader(store.path / "feat" / "0").read(np.arange(32))
    np.testing.assert_array_equal(reader.read(np.arange(32)), expected)
    assert reader.shards_opened == 4 and len(reader._open) == 2


def test_the_store_hands_out_the_reader_its_layout_allows(store):
    reader = store.reader("1")
    assert isinstance(reader, ShardMmapReader)
    np.testing.assert_array_equal(reader.read(np.array([2, 30])), ZarrReader(store.path / "feat" / "1").read([2, 30]))
    assert isinstance(store.reader("1", "zarr"), ZarrReader)
    with pytest.raises(StoreError, match="no feature level '7'"):
        store.reader("7")
