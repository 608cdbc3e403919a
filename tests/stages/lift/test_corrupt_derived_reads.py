"""A flipped byte in any array training reads stops training with the array and frame named, not only
in ``feat/<l>``: an int8 store's scales ``feat_scale/<l>``, the mirrored crops' maps ``feat_flip/<l>``
and the joint features ``joint_feat/<l>`` a temporal lifter reads (lazily and in memory)."""

from __future__ import annotations

import pytest

from cache.checksum import ChunkChecksumError
from stages.lift.train import TrainRequest, train
from tests.stages.lift.lift_stores import make_store, tiny_config
from tests.stages.lift.test_flip_features import add_flip_maps
from tests.stages.lift.test_verified_int8_reads import flip_byte

BAD_FRAME = 6  # an S1 (training) frame


def _int8_store(tmp_path):
    return make_store(tmp_path / "int8.zarr", num_frames=32, shard_frames=8, feature_dtype="int8").path, {}


def _flip_store(tmp_path):
    path = make_store(tmp_path / "flip.zarr", num_frames=32, shard_frames=8).path
    add_flip_maps(path, lambda name, maps: maps[..., ::-1].copy())
    return path, {"train": dict(flip_aug=True, flip_prob=1.0, flip_features="extracted")}


def _joint_feat_store(tmp_path, in_memory: bool):
    from stages.lift.joint_feats import write_joint_feats

    path = make_store(tmp_path / "jf.zarr", num_frames=32, shard_frames=8).path
    write_joint_feats(path, progress=False)
    model = dict(type="ContextAwarePoseFormerS", context="fusion", frames=3, levels=[0, 1], embed_dim=8, depth=1,
                 spatial_heads=4, fusion_heads=2, temporal_depth=1, temporal_heads=4)
    return path, {"model": model, "train": dict(in_memory=in_memory), "data": dict(frame_step=1)}


@pytest.mark.parametrize("array, make", [
    ("feat_scale/0", _int8_store),
    ("feat_flip/1", _flip_store),
    ("joint_feat/0", lambda tmp: _joint_feat_store(tmp, in_memory=False)),
    ("joint_feat/1", lambda tmp: _joint_feat_store(tmp, in_memory=True)),
])
@pytest.mark.slow
def test_a_corrupt_derived_array_stops_training_naming_array_and_frame(tmp_path, array, make):
    path, sections = make(tmp_path)
    flip_byte(path, array, BAD_FRAME)
    cfg = tiny_config(**{"train": dict(epochs=1, workers=0), "eval": dict(after_train=False), **{
        name: ({**dict(epochs=1, workers=0), **values} if name == "train" else values)
        for name, values in sections.items()}})
    if "model" in sections:
        cfg["model"] = sections["model"]
    with pytest.raises(ChunkChecksumError, match=rf"{path}/{array}: frame {BAD_FRAME} fails its crc32c check"):
        train(TrainRequest(cfg=cfg, store_path=path, work_root=tmp_path / "work", progress=False))
