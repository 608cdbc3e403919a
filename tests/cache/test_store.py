"""Store layout, shard-wise writes, completeness and checksum verification on real zarr stores."""

from pathlib import Path

import numpy as np
import pytest

from cache.key import KeyInputs
from cache.listing import list_stores
from cache.store import FeatureStore, LevelSpec, StoreError, StoreSpec, create_store, shard_array_names
from cache.verify import verify_store

SPEC = StoreSpec(num_frames=5, shard_frames=2, levels=(LevelSpec("0", 4, 8, 6, 4), LevelSpec("1", 8, 16, 3, 2)),
                 num_joints=17, joint_format="coco17", input_size_wh=(16, 24))
KEY = KeyInputs("d", "a" * 64, 5, "b" * 64, "c" * 64, (16, 24), "detector")


def shard_values(spec: StoreSpec, shard: int, seed: int = 0) -> dict[str, np.ndarray]:
    start, stop = spec.shard_bounds(shard)
    rng = np.random.default_rng(seed + shard)
    values = {}
    for name in shard_array_names(spec):
        array_shape = {"kp2d": (17, 2), "kp2d_input": (17, 2), "score": (17,), "det_kp2d": (17, 2), "affine": (2, 3)}
        if name.startswith("feat/"):
            level = next(lv for lv in spec.levels if f"feat/{lv.name}" == name)
            values[name] = rng.standard_normal((stop - start, level.channels, level.height, level.width)).astype(np.float16)
        else:
            values[name] = rng.standard_normal((stop - start, *array_shape[name])).astype(np.float32)
    return values


def new_store(tmp_path: Path) -> FeatureStore:
    path = tmp_path / "s.zarr"
    create_store(path, SPEC, KEY, {"bbox": np.arange(20, dtype=np.float32).reshape(5, 4)},
                 {"subject": (np.array([0, 1, 0, 1, 1]), ["S9", "S11"])}, attrs={"note": "test"})
    return FeatureStore.open(path, mode="r+", allow_incomplete=True)


def test_layout_describes_itself(tmp_path):
    store = new_store(tmp_path)
    feat = store.group["feat/0"]
    assert feat.shape == (5, 8, 6, 4) and feat.dtype == np.float16
    assert feat.chunks == (1, 8, 6, 4) and feat.shards == (2, 8, 6, 4)
    assert feat.attrs["stride"] == 4
    assert store.labels("subject") == ["S9", "S11"]
    assert store.attrs["key"] == KEY.key() and store.attrs["spec"]["shard_frames"] == 2
    np.testing.assert_array_equal(store.read("bbox")[2], [8, 9, 10, 11])


def test_incomplete_store_is_refused_until_every_shard_is_done(tmp_path):
    store = new_store(tmp_path)
    with pytest.raises(StoreError, match="incomplete store \\(0/3"):
        FeatureStore.open(store.path)
    for shard in (0, 1):
        store.write_shard(shard, shard_values(SPEC, shard))
    assert not store.mark_complete_if_done()
    assert store.pending_shards() == [2]
    with pytest.raises(StoreError, match="2/3"):
        FeatureStore.open(store.path)
    store.write_shard(2, shard_values(SPEC, 2))
    assert store.mark_complete_if_done()
    reopened = FeatureStore.open(store.path)
    np.testing.assert_array_equal(reopened.group["feat/1"][4], shard_values(SPEC, 2)["feat/1"][0])


def test_done_shards_are_never_rewritten(tmp_path):
    store = new_store(tmp_path)
    store.write_shard(0, shard_values(SPEC, 0))
    with pytest.raises(StoreError, match="already done"):
        store.write_shard(0, shard_values(SPEC, 0, seed=7))
    np.testing.assert_array_equal(store.group["kp2d"][0:2], shard_values(SPEC, 0)["kp2d"])


def test_a_shard_write_must_provide_every_array(tmp_path):
    store = new_store(tmp_path)
    values = shard_values(SPEC, 0)
    del values["feat/1"]
    with pytest.raises(StoreError, match="feat/1"):
        store.write_shard(0, values)
    assert not store.done_mask()[0]


def complete_store(tmp_path: Path) -> FeatureStore:
    store = new_store(tmp_path)
    for shard in range(SPEC.num_shards):
        store.write_shard(shard, shard_values(SPEC, shard))
    store.mark_complete_if_done()
    return store


def test_verify_passes_a_good_store_and_catches_a_flipped_byte(tmp_path):
    store = complete_store(tmp_path)
    report = verify_store(store.path)
    assert report.ok and report.chunks_read > 10
    shard_file = store.path / "feat" / "0" / "c" / "1" / "0" / "0" / "0"
    data = bytearray(shard_file.read_bytes())
    data[100] ^= 0x01
    shard_file.write_bytes(bytes(data))
    report = verify_store(store.path)
    assert not report.ok
    assert len(report.errors) == 1 and "feat/0[2:3]" in report.errors[0]  # frame 2: first of shard 1


def test_compressed_store_round_trips(tmp_path):
    spec = StoreSpec(**{**SPEC.__dict__, "compression": "blosc-zstd"})
    path = tmp_path / "z.zarr"
    create_store(path, spec, KEY, {}, {}, {})
    store = FeatureStore.open(path, mode="r+", allow_incomplete=True)
    for shard in range(spec.num_shards):
        store.write_shard(shard, shard_values(spec, shard))
    np.testing.assert_array_equal(store.group["feat/0"][2:4], shard_values(spec, 1)["feat/0"])
    assert verify_store(path).ok is False  # not marked complete yet
    store.mark_complete_if_done()
    assert verify_store(path).ok


def test_listing_reports_each_store(tmp_path):
    complete_store(tmp_path)
    (tmp_path / "junk.zarr").mkdir()
    rows = {row.name: row for row in list_stores(tmp_path)}
    assert rows["s.zarr"].complete and rows["s.zarr"].frames == 5 and rows["s.zarr"].levels == "0:s4 1:s8"
    assert rows["s.zarr"].size_bytes > 5 * (8 * 6 * 4 + 16 * 3 * 2) * 2
    assert not rows["junk.zarr"].complete and "not a feature store" in rows["junk.zarr"].note
