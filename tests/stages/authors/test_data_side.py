"""The data side of parity, on the real frames the fixture's crops were cut from: CAPF's authors'
crop (no padding) at a frame's center/scale gives the fixture's ``crop_bgr``, CAPF's 2D input
normalisation gives ``kp2d_norm`` and the crop affine gives ``kp2d_crop_px``."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from stages.authors.fixture import pose2d_from_frames
from stages.authors.parity import crop_affines, reference_points
from tests.helpers import SHARED_DATA

FIXTURE = SHARED_DATA.parent / "parity" / "authors_ca_pf"
W32 = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"


@pytest.fixture(scope="module")
def fixture_data():
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    with np.load(FIXTURE / "inputs.npz") as inputs:
        return manifest["frames"], {k: inputs[k] for k in inputs.files}


@pytest.fixture(scope="module")
def authors_detector():
    """CAPF's crop pipeline as `crop='authors'` runs it: the W32 detector's test pipeline, box unpadded."""
    from stages.detector.topdown import TopdownDetector

    return TopdownDetector(W32, None, random_init=True, bbox_padding=1.0, crop_affine="authors")


@pytest.fixture(scope="module")
def mmpose_detector():
    from stages.detector.topdown import TopdownDetector

    return TopdownDetector(W32, None, random_init=True, bbox_padding=1.0)


def test_the_authors_crop_of_each_frame_is_the_fixtures_crop(fixture_data, authors_detector, mmpose_detector):
    frames, inputs = fixture_data
    for frame, expected in zip(frames, inputs["crop_bgr"]):
        image = cv2.imread(str(SHARED_DATA / "h36m" / frame["name"]))
        centre, side = np.asarray(frame["center"]), np.asarray(frame["scale"]) * 200.0
        box = np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)
        crop = authors_detector.crop(image, box)["inputs"].permute(1, 2, 0).numpy()
        assert crop.shape == expected.shape
        diff = np.abs(crop.astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, frame["name"]
        # mmpose's own affine at the same box (pixel edges, not centres) is another crop (the control)
        shifted = mmpose_detector.crop(image, box)["inputs"].permute(1, 2, 0).numpy()
        assert np.abs(shifted.astype(int) - expected.astype(int)).max() > 20


def test_the_2d_input_and_the_reference_points_are_the_fixtures(fixture_data, authors_detector, mmpose_detector):
    frames, inputs = fixture_data
    affines = crop_affines(frames, authors_detector)
    pose2d, ref_px = pose2d_from_frames({"frames": frames}), reference_points(frames, affines)
    np.testing.assert_array_equal(pose2d, inputs["kp2d_norm"])  # bit for bit
    np.testing.assert_allclose(ref_px, inputs["kp2d_crop_px"], atol=1e-4)
    # mmpose's affine puts the same joints about half a pixel away (the control)
    mmpose_ref = reference_points(frames, crop_affines(frames, mmpose_detector, "mmpose"))
    assert np.abs(mmpose_ref - inputs["kp2d_crop_px"]).max() > 0.3
    # the normalisation keeps the aspect: y is scaled by 2 / w like x, so the frames' 1002 px height
    # ends at h / w, not at 1
    assert np.all(np.abs(pose2d) < 1.01)

