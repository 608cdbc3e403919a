"""The lazy batch dataset and its readers on real (tiny) zarr stores written by cache.store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache.store import StoreError
from stages.lift import dataset as dataset_module
from stages.lift.build import StoreMismatchError, geometry_from_store
from stages.lift.dataset import CacheBatchDataset, FrameBatchSampler, lift_inputs, make_loader, select_frames
from stages.lift.joints import coco17_to_h36m17
from cache.readers import ShardMmapReader
from tests.stages.lift.lift_stores import make_store, tiny_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return make_store(tmp_path_factory.mktemp("lift") / "s.zarr", num_frames=32, shard_frames=8)


def test_a_batch_reads_only_its_frames(store):
    """Frames 1 and 17 live in shards 0 and 2: only those two shard files are opened, two frames copied,
    and the values are the ones zarr-python reads for those frames."""
    ds = CacheBatchDataset(store.path, np.arange(32), ["0", "1"], reader="mmap")
    batch = ds[np.array([1, 17])]
    for name, reader, feats in zip(["0", "1"], ds.readers, batch["feats"]):
        assert isinstance(reader, ShardMmapReader)
        assert reader.shards_opened == 2 and reader.frames_copied == 2
        assert feats.dtype == torch.float16
        np.testing.assert_array_equal(feats.numpy(), store.group[f"feat/{name}"].get_orthogonal_selection(([1, 17],)))
    np.testing.assert_array_equal(batch["frame"].numpy(), [1, 17])


def test_inputs_are_normalised_and_converted_by_hand(store):
    """Frame 1 is 640x480: x/640*2 - 1 and y/640*2 - 480/640; the pelvis is the COCO hips' midpoint."""
    inputs = lift_inputs(store, np.array([0, 1]))
    kp_coco = store.read("kp2d")[1]
    x, y = (kp_coco[11] + kp_coco[12]) / 2
    np.testing.assert_allclose(inputs.pose2d[1, 0], [x / 640 * 2 - 1, y / 640 * 2 - 0.75], rtol=1e-6)
    rx, ry = kp_coco[6]  # H36M 14 r-shoulder <- COCO 6
    np.testing.assert_allclose(inputs.pose2d[1, 14], [rx / 640 * 2 - 1, ry / 640 * 2 - 0.75], rtol=1e-6)
    kx, ky = store.read("kp2d")[0][15]  # frame 0 is 1000x1002; H36M 6 l-ankle <- COCO 15
    np.testing.assert_allclose(inputs.pose2d[0, 6], [kx / 1000 * 2 - 1, ky / 1000 * 2 - 1.002], rtol=1e-6)
    np.testing.assert_allclose(inputs.ref_px, coco17_to_h36m17(store.read("kp2d_input")[:2]))
    gt = store.read("gt3d")[:2]
    np.testing.assert_allclose(inputs.target_m, (gt - gt[:, :1]) / 1000, rtol=1e-6)
    assert np.all(inputs.target_m[:, 0] == 0)
    assert list(inputs.labels["subject"]) == ["S1", "S9"] and list(inputs.labels["action"]) == ["Walking", "Walking"]


def test_external_h36m_joints_are_not_converted(tmp_path):
    store = make_store(tmp_path / "h.zarr", num_frames=8, joint_format="h36m17")
    inputs = lift_inputs(store, np.arange(8))
    np.testing.assert_array_equal(inputs.ref_px, store.read("kp2d_input"))


def test_in_memory_and_lazy_batches_are_identical(store):
    frames = select_frames(store, ["S1"])
    lazy = CacheBatchDataset(store.path, frames, ["0", "1"])
    memory = CacheBatchDataset(store.path, frames, ["0", "1"], in_memory=True)
    assert memory.memory is not None and memory.memory_bytes() == 16 * (8 * 8 * 6 + 16 * 4 * 3) * 2
    for positions in ([0, 5, 6, 15], [3]):
        a, b = lazy[np.array(positions)], memory[np.array(positions)]
        assert a.keys() == b.keys()
        for key in ("pos", "frame", "pose2d", "ref_px", "target"):
            assert torch.equal(a[key], b[key])
        assert all(torch.equal(x, y) for x, y in zip(a["feats"], b["feats"]))


def test_in_memory_is_refused_when_it_does_not_fit(store, monkeypatch):
    monkeypatch.setattr(dataset_module, "available_memory_bytes", lambda: 1000)
    with pytest.raises(StoreError, match="in_memory=False"):
        CacheBatchDataset(store.path, np.arange(32), ["0"], in_memory=True)


def test_step0_reads_no_maps(store):
    ds = CacheBatchDataset(store.path, np.arange(32), ["0", "1"], read_maps=False)
    assert ds[np.array([2, 3])]["feats"] == [] and ds.readers == []


def test_subject_split(store):
    s1, s9 = select_frames(store, ["S1"]), select_frames(store, ["S9"])
    assert len(s1) == len(s9) == 16 and not set(s1) & set(s9)
    assert np.all(np.diff(s1) > 0)
    with pytest.raises(StoreError, match="S11"):
        select_frames(store, ["S11"])


def test_sampler_order_is_a_function_of_seed_and_epoch():
    sampler = FrameBatchSampler(10, 4, shuffle=True, seed=3)
    sampler.set_epoch(1)
    first = [b.tolist() for b in sampler]
    assert all(b == sorted(b) for b in first) and sorted(sum(first, [])) == list(range(10))
    assert [len(b) for b in first] == [4, 4, 2] and len(sampler) == 3
    sampler.set_epoch(2)
    assert [b.tolist() for b in sampler] != first
    sampler.set_epoch(1, skip_batches=2)
    assert [b.tolist() for b in sampler] == first[2:] and len(sampler) == 1


def test_loader_workers_deliver_the_same_batches(store):
    ds = CacheBatchDataset(store.path, np.arange(32), ["0", "1"])
    sampler = FrameBatchSampler(len(ds), 8, shuffle=True, seed=0)
    serial = list(make_loader(ds, sampler, workers=0, pin_memory=False))
    parallel = list(make_loader(ds, sampler, workers=2, pin_memory=False))
    assert len(serial) == len(parallel) == 4
    for a, b in zip(serial, parallel):
        assert torch.equal(a["frame"], b["frame"]) and all(torch.equal(x, y) for x, y in zip(a["feats"], b["feats"]))


def test_a_config_asking_for_what_the_store_lacks_is_refused(store):
    assert geometry_from_store(tiny_config(), store).names == ["0", "1"]
    with pytest.raises(StoreMismatchError, match=r"levels \['2'\].*0: stride 4, 8 ch"):
        geometry_from_store(tiny_config(model=dict(levels=[0, 2])), store)
    wrong_channels = tiny_config(detector_levels=dict(channels=[32, 64]))
    with pytest.raises(StoreMismatchError, match="level 0: the config expects .*32 ch.* holds .*8 ch"):
        geometry_from_store(wrong_channels, store)
    with pytest.raises(StoreMismatchError, match="input size"):
        geometry_from_store(tiny_config(detector_levels=dict(input_size_wh=(192, 256))), store)
    with pytest.raises(StoreMismatchError, match="level_strides"):
        geometry_from_store(tiny_config(model=dict(level_strides=[4, 16])), store)
