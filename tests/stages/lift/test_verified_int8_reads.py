"""The training loader on int8 stores (dequantised in the loader or after the device copy) and its
crc32c check: a flipped byte in a feature chunk stops the read with one line naming array and frame."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cache.checksum import ChunkChecksumError
from stages.lift.dataset import CacheBatchDataset, make_loader, to_device
from tests.helpers import PROJECT_ROOT, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

FRAMES = np.arange(32)


def flip_byte(store_path: Path, array: str, frame: int, shard_frames: int = 8) -> None:
    """Flip one byte inside `frame`'s chunk of `array`, found through the shard index zarr wrote."""
    shard, within = divmod(frame, shard_frames)
    folder = store_path / array / "c" / str(shard)
    file = next(p for p in folder.rglob("*") if p.is_file())
    data = bytearray(file.read_bytes())
    index = np.frombuffer(bytes(data[-(16 * shard_frames + 4):-4]), dtype="<u8").reshape(-1, 2)
    data[int(index[within, 0]) + 5] ^= 0x10
    file.write_bytes(bytes(data))


@pytest.fixture
def stores(tmp_path):
    """The same random maps stored as fp16 and as int8 (same seed)."""
    return (make_store(tmp_path / "fp16.zarr", num_frames=32, shard_frames=8),
            make_store(tmp_path / "int8.zarr", num_frames=32, shard_frames=8, feature_dtype="int8"))


def test_int8_store_layout_and_key(stores):
    fp16, int8 = stores
    assert int8.group["feat/0"].dtype == np.uint8 and int8.group["feat_scale/0"].shape == (32, 8, 2)
    assert "quantization" in int8.group["feat/0"].attrs and not fp16.has("feat_scale/0")
    assert int8.attrs["key_inputs"]["feature_dtype"] == "int8" and int8.key != fp16.key


@pytest.mark.parametrize("in_memory", [False, True])
def test_int8_batches_match_fp16_within_the_quantisation_step(stores, in_memory):
    fp16, int8 = stores
    exact = CacheBatchDataset(fp16.path, FRAMES, ["0", "1"])[np.arange(0, 32, 3)]
    for dequantize in (True, False):
        batch = CacheBatchDataset(int8.path, FRAMES, ["0", "1"], in_memory=in_memory,
                                  dequantize=dequantize)[np.arange(0, 32, 3)]
        assert ("feat_scales" in batch) == (not dequantize)
        feats = to_device(batch, torch.device("cpu"))["feats"]
        for level, (ref, got) in enumerate(zip(exact["feats"], feats)):
            assert got.dtype == torch.float16 and got.shape == ref.shape
            step = int8.read(f"feat_scale/{level}")[np.arange(0, 32, 3), :, 1].max()
            assert (got.float() - ref.float()).abs().max() <= 0.5 * step + 4e-3
            relative = torch.linalg.vector_norm(got.float() - ref.float()) / torch.linalg.vector_norm(ref.float())
            assert relative < 0.01


def test_a_flipped_byte_stops_the_loader_naming_array_and_frame(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)
    flip_byte(store.path, "feat/1", 13)
    dataset = CacheBatchDataset(store.path, FRAMES, ["0", "1"])
    dataset[np.arange(0, 12)]  # other frames read fine
    with pytest.raises(ChunkChecksumError, match=rf"{store.path}/feat/1: frame 13 fails its crc32c check"):
        dataset[np.arange(8, 16)]
    loader = make_loader(dataset, [np.arange(8, 16)], workers=1, pin_memory=False)
    with pytest.raises(ChunkChecksumError, match="frame 13 fails its crc32c check"):
        next(iter(loader))
    unchecked = CacheBatchDataset(store.path, FRAMES, ["0", "1"], verify=False)
    assert unchecked[np.arange(8, 16)]["feats"][1].shape == (8, 16, 4, 3)  # read anyway, unverified


@pytest.mark.slow
def test_training_on_a_corrupt_copy_exits_nonzero_with_one_line(tmp_path):
    store = make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)
    flip_byte(store.path, "feat/0", 6)  # frame 6 is an S1 (training) frame
    config = write_config(tmp_path / "tiny.py", tiny_config(train={"workers": 1}))
    run = subprocess.run([sys.executable, "-m", "pipeline", "train", "--config", str(config), "--store",
                          str(store.path), "--work-dir", str(tmp_path / "work"), "--epochs", "1", "--quiet"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and f"{store.path}/feat/0: frame 6 fails its crc32c check" in last, run.stderr
    assert f"`capf cache verify {store.path}`" in last
