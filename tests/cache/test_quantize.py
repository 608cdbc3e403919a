"""8-bit features: reconstruction of real detector maps (slim HRNet on the real Human3.6M frames)."""

import numpy as np
import pytest
import torch

from cache.quantize import (dequantize_torch, dequantize_uint8, quantize_uint8, relative_l2_error, scheme_errors,
                            storage_dtype)
from stages.detector.topdown import TopdownDetector
from stages.extract.sources import build_source, load_frame
from tests.helpers import SLIM_DETECTOR


@pytest.fixture(scope="module")
def real_maps(h36m_root) -> list[np.ndarray]:
    """The slim HRNet's four levels (fp16, as the extractor hands them over) for the 4 real frames."""
    detector = TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=0)
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    packed = [detector.crop(load_frame(index.root, name), box) for name, box in zip(index.image_names, index.bboxes_xyxy)]
    out = detector.forward({"inputs": [p["inputs"] for p in packed], "data_samples": [p["data_samples"] for p in packed]})
    return [out[f"feat/{level.name}"] for level in detector.levels]


def test_uint8_codes_reconstruct_real_maps_within_half_a_percent(real_maps):
    for maps in real_maps:
        codes, scales = quantize_uint8(maps)
        assert codes.dtype == np.uint8 and codes.shape == maps.shape
        assert scales.shape == (*maps.shape[:2], 2) and scales.dtype == np.float32
        error = relative_l2_error(maps, dequantize_uint8(codes, scales))
        assert error.max() < 0.005, error
        # the worst element is within half a code step plus fp16 rounding of the output
        step = scales[..., 1][..., None, None]
        worst = np.abs(dequantize_uint8(codes, scales).astype(np.float32) - maps.astype(np.float32))
        assert np.all(worst <= 0.5 * step + np.abs(maps.astype(np.float32)) * 2**-10 + 1e-7)


def test_the_chosen_scheme_beats_float8_and_per_level_scales_on_real_maps(real_maps):
    for maps in real_maps:
        errors = scheme_errors(maps)
        chosen = errors["uint8_frame_channel"]["rel_l2_mean"]
        assert chosen < errors["float8_e4m3_frame_channel"]["rel_l2_mean"]
        assert chosen < errors["uint8_frame_level"]["rel_l2_mean"]
        assert errors["float16"]["rel_l2_mean"] == 0.0  # the maps arrive as fp16 already


def test_torch_dequantisation_matches_numpy(real_maps):
    codes, scales = quantize_uint8(real_maps[0])
    on_torch = dequantize_torch(torch.from_numpy(codes), torch.from_numpy(scales))
    assert on_torch.dtype == torch.float16
    np.testing.assert_allclose(on_torch.numpy().astype(np.float32),
                               dequantize_uint8(codes, scales).astype(np.float32), rtol=2**-10, atol=1e-6)


def test_constant_channels_decode_exactly():
    maps = np.zeros((2, 3, 4, 4), np.float16)
    maps[1, 2] = 1.5
    codes, scales = quantize_uint8(maps)
    np.testing.assert_array_equal(dequantize_uint8(codes, scales), maps)


def test_unknown_dtype_is_refused():
    assert storage_dtype("int8") == "uint8" and storage_dtype("float16") == "float16"
    with pytest.raises(ValueError, match="cache.dtype must be one of"):
        storage_dtype("int4")
