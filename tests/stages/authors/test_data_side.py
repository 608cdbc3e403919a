"""The data side of parity, on the real frames the fixture's crops were cut from: CAPF's authors'
crop (no padding) at a frame's center/scale gives the fixture's ``crop_bgr``, CAPF's 2D input
normalisation gives ``kp2d_norm`` and the crop affine gives ``kp2d_crop_px``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from stages.authors.parity import crop_affines, lifter_inputs
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"
W32 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"


@pytest.fixture(scope="module")
def fixture_data():
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    with np.load(FIXTURE / "inputs.npz") as inputs:
        return manifest["frames"], {k: inputs[k] for k in inputs.files}


@pytest.fixture(scope="module")
def authors_crop():
    """CAPF's crop pipeline as `crop='authors'` runs it: the W32 detector's test pipeline, box unpadded."""
    from stages.detector.topdown import TopdownDetector

    return TopdownDetector(W32, None, random_init=True, bbox_padding=1.0).crop


def test_the_authors_crop_of_each_frame_is_the_fixtures_crop(fixture_data, authors_crop):
    frames, inputs = fixture_data
    for frame, expected in zip(frames, inputs["crop_bgr"]):
        image = cv2.imread(str(SHARED_DATA / "h36m" / frame["name"]))
        centre, side = np.asarray(frame["center"]), np.asarray(frame["scale"]) * 200.0
        box = np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)
        crop = authors_crop(image, box)["inputs"].permute(1, 2, 0).numpy()
        assert crop.shape == expected.shape
        diff = np.abs(crop.astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, frame["name"]
        # mmpose's default 1.25 padding is another crop altogether (the control)
        padded_box = np.concatenate([centre - 1.25 * side / 2, centre + 1.25 * side / 2]).astype(np.float32)
        padded = authors_crop(image, padded_box)["inputs"].permute(1, 2, 0).numpy()
        assert np.abs(padded.astype(int) - expected.astype(int)).mean() > 5


def test_the_2d_input_and_the_reference_points_are_the_fixtures(fixture_data, authors_crop):
    frames, inputs = fixture_data
    affines = crop_affines(frames, (192, 256), authors_crop)
    pose2d, ref_px = lifter_inputs(frames, affines)
    np.testing.assert_allclose(pose2d, inputs["kp2d_norm"], atol=1e-6)
    np.testing.assert_allclose(ref_px, inputs["kp2d_crop_px"], atol=2e-3)
    # the normalisation keeps the aspect: y is scaled by 2 / w like x, so the frames' 1002 px height
    # ends at h / w, not at 1
    assert np.all(np.abs(pose2d) < 1.01)

