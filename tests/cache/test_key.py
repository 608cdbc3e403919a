"""The content key changes when (and only when) an input that determines features changes."""

from dataclasses import replace

import numpy as np
import pytest

from cache.key import KeyInputs, frame_index_digest, store_name

NAMES = ["S1/a_000001.jpg", "S1/a_000002.jpg"]
BOXES = np.array([[0, 0, 100, 120], [5, 5, 90, 100]], dtype=np.float32)


def base_inputs(**changes) -> KeyInputs:
    inputs = KeyInputs(dataset="h36m", frame_index_sha256=frame_index_digest(NAMES, BOXES), num_frames=2,
                       detector_config_sha256="c" * 64, checkpoint_sha256="d" * 64, input_size_wh=(192, 256),
                       kp2d_source="detector")
    return replace(inputs, **changes)


def test_same_inputs_give_same_key():
    assert base_inputs().key() == base_inputs().key()
    assert frame_index_digest(list(NAMES), BOXES.copy()) == frame_index_digest(NAMES, BOXES)


@pytest.mark.parametrize("change", [
    {"frame_index_sha256": frame_index_digest(NAMES[::-1], BOXES)},
    {"frame_index_sha256": frame_index_digest(NAMES, BOXES + np.float32(1.0))},
    {"detector_config_sha256": "e" * 64},
    {"checkpoint_sha256": "f" * 64},
    {"input_size_wh": (288, 384)},
    {"kp2d_source": "external:" + "0" * 64},
    {"flip_test": True},
    {"schema_version": 99},
])
def test_each_feature_input_changes_the_key(change):
    assert base_inputs(**change).key() != base_inputs().key()


def test_float_noise_in_boxes_does_not_change_the_key():
    assert frame_index_digest(NAMES, BOXES + np.float32(1e-5)) == frame_index_digest(NAMES, BOXES)


def test_store_name_is_readable_and_ends_with_the_key():
    name = store_name("h36m", "hrnet_w32", base_inputs())
    assert name == f"h36m-hrnet_w32-256x192-{base_inputs().key()}.zarr"


def test_the_checkpoint_hash_is_remembered_per_path_size_and_mtime(tmp_path, monkeypatch):
    import os

    from cache import key as key_module

    weights = tmp_path / "w.pth"
    weights.write_bytes(b"abc")
    calls = []
    real = key_module.sha256_file
    monkeypatch.setattr(key_module, "sha256_file", lambda path: calls.append(path) or real(path))
    memo = tmp_path / "cache"
    first = key_module.sha256_file_memo(weights, memo)
    assert first == real(weights) and len(calls) == 1
    assert key_module.sha256_file_memo(weights, memo) == first and len(calls) == 1  # remembered
    weights.write_bytes(b"abd")  # same size, new content and mtime
    os.utime(weights, ns=(1, 1))
    changed = key_module.sha256_file_memo(weights, memo)
    assert changed == real(weights) != first and len(calls) == 2
    (memo / key_module.MEMO_NAME).write_text("{not json")  # a broken memo is only a cache
    assert key_module.sha256_file_memo(weights, memo) == changed and len(calls) == 3
