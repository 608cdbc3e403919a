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
