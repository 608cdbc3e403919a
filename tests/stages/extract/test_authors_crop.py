"""`dataset.crop='authors'`: the authors' Human3.6M toolbox box from the 3D pelvis and the cameras."""

from __future__ import annotations

import numpy as np
import pytest

from cache.key import frame_index_digest
from stages.extract.sources import SourceError, build_source


def test_authors_box_is_the_projected_2m_square_around_the_pelvis(h36m_root):
    """On the bundled frames: the box is 2000 fx / Z by 2000 fy / Z px (a square up to fx vs fy),
    its x centre is the projected pelvis and its y centre the projection of a point 100 mm below it
    (their y range is -900/+1100 mm); the projected pelvis is the dataset's own 2D pelvis label."""
    index = build_source({"type": "h36m", "crop": "authors"}, h36m_root).frame_index()
    boxes = index.bboxes_xyxy.astype(np.float64)
    pelvis = index.gt3d_mm[:, 0].astype(np.float64)              # (N, 3) camera frame, mm
    focal, centre = index.camera[:, 0:2].astype(np.float64), index.camera[:, 2:4].astype(np.float64)
    depth = pelvis[:, 2:3]
    size = boxes[:, 2:] - boxes[:, :2]
    np.testing.assert_allclose(size, 2000.0 * focal / depth, rtol=1e-5)
    assert np.all(np.abs(size[:, 0] / size[:, 1] - 1) < 0.01)    # a square: H36M's fx and fy agree to <1 %
    projected_pelvis = pelvis[:, :2] / depth * focal + centre
    box_centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    np.testing.assert_allclose(box_centre[:, 0], projected_pelvis[:, 0], atol=1e-3)
    np.testing.assert_allclose(box_centre[:, 1], projected_pelvis[:, 1] + 100.0 * focal[:, 1] / depth[:, 0],
                               atol=1e-3)
    # the pinhole projection of the 3D pelvis lands on the annotated 2D pelvis (lens distortion < 1 px)
    np.testing.assert_allclose(projected_pelvis, index.gt2d_px[:, 0], atol=1.0)


def test_the_crop_enters_the_store_key_and_changes_only_the_boxes(h36m_root):
    annotation = build_source({"type": "h36m"}, h36m_root).frame_index()
    authors = build_source({"type": "h36m", "crop": "authors"}, h36m_root).frame_index()
    assert frame_index_digest(annotation.image_names, annotation.bboxes_xyxy) != \
        frame_index_digest(authors.image_names, authors.bboxes_xyxy)
    assert authors.key_extra == {"crop": "authors", "bbox_padding": "1.0", "crop_affine": "authors"}
    assert annotation.key_extra == {}
    assert (authors.bbox_padding, annotation.bbox_padding) == (1.0, None)
    assert (authors.crop_affine, annotation.crop_affine) == ("authors", "mmpose")
    assert not np.allclose(annotation.bboxes_xyxy, authors.bboxes_xyxy, atol=5.0)
    assert annotation.image_names == authors.image_names
    np.testing.assert_array_equal(annotation.gt3d_mm, authors.gt3d_mm)


def test_a_source_without_3d_and_cameras_refuses_the_authors_crop(tmp_path):
    with pytest.raises(SourceError, match=r"dataset.crop='authors' is not available for type 'images'"):
        build_source({"type": "images", "crop": "authors"}, tmp_path)
    with pytest.raises(SourceError, match="dataset.crop must be one of"):
        build_source({"type": "h36m", "crop": "square"}, tmp_path).frame_index()


@pytest.mark.slow
def test_the_detector_crops_exactly_the_authors_box(h36m_root, tmp_path):
    """Extracted end to end (slim detector, random weights): the stored affine is their
    get_affine_transform, no 1.25 padding, pixel centres: the box centre goes to ((W_in-1)/2,
    (H_in-1)/2) and a box width w to W_in-1 over w-1; the annotation crop keeps mmpose's padding."""
    from cache.store import FeatureStore
    from stages.extract.runner import ExtractRequest, run_extraction
    from tests.helpers import slim_extract_config

    affine_of = {}
    for crop in ("annotation", "authors"):
        cfg = slim_extract_config(dataset={"crop": crop})
        result = run_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path,
                                               random_init=True, device="cpu", progress=False))
        store = FeatureStore.open(result.path)
        boxes, affine = store.read("bbox").astype(np.float64), store.read("affine").astype(np.float64)
        affine_of[crop] = (boxes, affine)
    boxes, affine = affine_of["authors"]
    w_in, h_in = 96, 128                                            # the slim detector's input (W, H)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2

    def to_input(x, y):
        return np.einsum("nij,nj->ni", affine, np.stack([x, y, np.ones_like(x)], axis=1))

    width = boxes[:, 2] - boxes[:, 0]
    np.testing.assert_allclose(to_input(boxes[:, 2], centre[:, 1])[:, 0] - to_input(boxes[:, 0], centre[:, 1])[:, 0],
                               width * (w_in - 1) / (width - 1), rtol=1e-5)
    np.testing.assert_allclose(to_input(centre[:, 0], centre[:, 1]), np.tile([(w_in - 1) / 2, (h_in - 1) / 2], (4, 1)),
                               atol=1e-3)
    boxes, affine = affine_of["annotation"]                         # mmpose pads the box by 1.25
    width_in = np.linalg.norm(affine[:, :, 0], axis=1) * (boxes[:, 2] - boxes[:, 0])
    np.testing.assert_allclose(width_in, w_in / 1.25, rtol=1e-3)
