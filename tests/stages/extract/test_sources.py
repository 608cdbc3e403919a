"""Frame sources on the real Human3.6M sample, the real video, and broken copies of them."""

import json

import numpy as np
import pytest

from stages.extract.sources import SourceError, build_source, load_frame
from tests.helpers import SHARED_DATA


def test_h36m_source_reads_the_real_sample(h36m_root):
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    ann = np.load(h36m_root / "test_h36m_body3d.npz")
    assert index.image_names == [str(n) for n in ann["imgname"]]  # annotation order
    np.testing.assert_allclose(index.gt3d_mm, ann["S"][..., :3] * 1000.0, rtol=1e-6)
    np.testing.assert_allclose(index.gt2d_px, ann["part"][..., :2], rtol=1e-6)
    side = ann["scale"] * 200
    np.testing.assert_allclose(index.bboxes_xyxy[:, 2] - index.bboxes_xyxy[:, 0], side, rtol=1e-5)
    np.testing.assert_allclose((index.bboxes_xyxy[:, :2] + index.bboxes_xyxy[:, 2:]) / 2, ann["center"], rtol=1e-5)
    codes, labels = index.index_tables["subject"]
    assert [labels[c] for c in codes] == ["S1", "S5", "S7", "S8"]
    codes, labels = index.index_tables["action"]
    assert [labels[c] for c in codes] == ["Directions_1", "SittingDown", "Greeting", "WalkDog_1"]
    assert index.frame_numbers.tolist() == [1, 2061, 396, 26]
    # from the image headers: S8's frame is 1000x1000, and S7's camera metadata wrongly says so too
    assert index.image_sizes_wh.tolist() == [[1000, 1002], [1000, 1002], [1000, 1002], [1000, 1000]]
    assert index.camera[0, 0] == pytest.approx(1145.05, abs=0.01)  # fx of S1 camera 54138969


def test_h36m_intrinsics_project_gt3d_onto_gt2d(h36m_root):
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    fx, fy, cx, cy = index.camera[:, 0:1], index.camera[:, 1:2], index.camera[:, 2:3], index.camera[:, 3:4]
    x = index.gt3d_mm[..., 0] / index.gt3d_mm[..., 2] * fx + cx
    y = index.gt3d_mm[..., 1] / index.gt3d_mm[..., 2] * fy + cy
    error = np.hypot(x - index.gt2d_px[..., 0], y - index.gt2d_px[..., 1])
    assert error.mean() < 1.3 and error.max() < 3.5  # pinhole only: lens distortion is ignored here


def test_missing_image_is_named(h36m_copy):
    victim = next(h36m_copy.rglob("*.jpg"))
    victim.unlink()
    with pytest.raises(SourceError, match=f"{victim}: image not found"):
        build_source({"type": "h36m"}, h36m_copy).frame_index()


@pytest.mark.parametrize("breakage, message", [
    (lambda ann: ann.pop("S"), "missing key 'S'"),
    (lambda ann: ann.update(center=ann["center"][:2]), "'center' has 2 rows"),
    (lambda ann: ann.update(part=ann["part"][..., :2]), "part/S must be"),
])
def test_malformed_npz_is_named(h36m_copy, breakage, message):
    path = h36m_copy / "test_h36m_body3d.npz"
    ann = dict(np.load(path))
    breakage(ann)
    np.savez(path, **ann)
    with pytest.raises(SourceError, match=f"{path}: malformed annotation: {message}"):
        build_source({"type": "h36m"}, h36m_copy).frame_index()


def test_truncated_npz_is_named(h36m_copy):
    path = h36m_copy / "test_h36m_body3d.npz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(SourceError, match=f"{path}: malformed npz"):
        build_source({"type": "h36m"}, h36m_copy).frame_index()


def test_box_wholly_outside_the_image_is_named(h36m_copy):
    path = h36m_copy / "test_h36m_body3d.npz"
    ann = dict(np.load(path))
    ann["center"][5] = [5000.0, 300.0]
    np.savez(path, **ann)
    with pytest.raises(SourceError, match=r"box .* of frame 5 .* lies wholly outside its 1000x1002 image"):
        build_source({"type": "h36m"}, h36m_copy).frame_index()


def test_unknown_dataset_type():
    with pytest.raises(SourceError, match="unknown dataset type 'coco3d'"):
        build_source({"type": "coco3d"}, SHARED_DATA)


def test_video_source_whole_frames_and_decoding():
    root = SHARED_DATA / "video"
    index = build_source({"type": "video", "video": "football_5frames.mp4"}, root).frame_index()
    assert len(index) == 5 and index.bboxes_xyxy[0].tolist() == [0, 0, 960, 540]
    frame3 = load_frame(index.root, index.image_names[3])
    frame1 = load_frame(index.root, index.image_names[1])  # a backwards seek
    assert frame3.shape == (540, 960, 3) and not np.array_equal(frame1, frame3)
    np.testing.assert_array_equal(load_frame(index.root, index.image_names[1]), frame1)


def test_video_source_boxes_file(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes((SHARED_DATA / "video" / "football_5frames.mp4").read_bytes())
    (tmp_path / "boxes.json").write_text(json.dumps({"2": [[10, 20, 110, 220], [300, 40, 380, 240]], "0": [0, 0, 50, 80]}))
    index = build_source({"type": "video", "video": "clip.mp4", "boxes": "boxes.json"}, tmp_path).frame_index()
    assert index.image_names == ["clip.mp4#000000", "clip.mp4#000002", "clip.mp4#000002"]
    assert index.bboxes_xyxy[2].tolist() == [300, 40, 380, 240]
    (tmp_path / "boxes.json").write_text(json.dumps({"9": [0, 0, 50, 80]}))
    with pytest.raises(SourceError, match="frame 9 is outside the video's 5 frames"):
        build_source({"type": "video", "video": "clip.mp4", "boxes": "boxes.json"}, tmp_path).frame_index()


def test_image_folder_with_and_without_boxes(h36m_root, tmp_path):
    for image in sorted(h36m_root.rglob("*.jpg"))[:2]:
        (tmp_path / image.name).write_bytes(image.read_bytes())
    names = sorted(p.name for p in tmp_path.glob("*.jpg"))
    index = build_source({"type": "images"}, tmp_path).frame_index()
    assert index.image_names == names and index.bboxes_xyxy[1].tolist() == [0, 0, 1000, 1002]
    (tmp_path / "boxes.json").write_text(json.dumps({names[1]: [100, 100, 400, 700]}))
    index = build_source({"type": "images", "boxes": "boxes.json"}, tmp_path).frame_index()
    assert index.image_names == [names[1]]
    (tmp_path / "boxes.json").write_text("{not json")
    with pytest.raises(SourceError, match="boxes.json: malformed JSON"):
        build_source({"type": "images", "boxes": "boxes.json"}, tmp_path).frame_index()


def test_h36m_source_concatenates_several_annotation_files(h36m_copy):
    ann = dict(np.load(h36m_copy / "test_h36m_body3d.npz"))
    np.savez(h36m_copy / "train.npz", **{k: v[:5] for k, v in ann.items()})
    np.savez(h36m_copy / "test.npz", **{k: v[5:] for k, v in ann.items()})
    index = build_source({"type": "h36m", "annotation": ["train.npz", "test.npz"]}, h36m_copy).frame_index()
    assert index.image_names == [str(n) for n in ann["imgname"]]
    np.testing.assert_allclose(index.gt3d_mm, ann["S"][..., :3] * 1000, rtol=1e-6)
