"""The official MPI-INF-3DHP training layout (S<s>/Seq<q>/annot.mat, MATLAB v5) as the official source
reads it, checked against the files read independently with scipy, and its bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from stages.common.joint_sets import MPI3DHP_28_TO_17, MPI3DHP_TO_H36M
from stages.extract.sources import SourceError, build_source, load_frame
from stages.synth.mpi3dhp_train import mocap28

OFFICIAL = {"type": "mpi_inf_3dhp", "name": "synth_3dhp", "layout": "official"}


def official_train(root, **keys) -> dict:
    annotation = json.loads((root / "meta.json").read_text())["layouts"]["official_train"]["annotation"]
    return {**OFFICIAL, "annotation": annotation, **keys}


def test_mocap28_puts_the_relevant_joints_in_their_rows():
    joints = np.random.default_rng(0).normal(size=(3, 17, 3))
    full = mocap28(joints)
    assert full.shape == (3, 28, 3)
    np.testing.assert_array_equal(full[:, list(MPI3DHP_28_TO_17)], joints)
    others = sorted(set(range(28)) - set(MPI3DHP_28_TO_17))
    assert len(others) == 11 and not np.isin(full[:, others], joints).any()  # placeholders, not copies


@pytest.mark.parametrize("joints_3d", ["univ_annot3", "annot3"])
def test_training_frames_hold_the_files_labels(synth_3dhp, joints_3d):
    index = build_source(official_train(synth_3dhp, joints_3d=joints_3d), synth_3dhp).frame_index()
    subjects = np.asarray(index.index_tables["subject"][1])[index.index_tables["subject"][0]]
    train = np.flatnonzero(np.char.startswith(subjects.astype(str), "S"))
    assert len(train) == 16 * 8  # 16 sequences x 1 step (the small set) x the authors' 8 cameras
    assert index.index_tables["gt3d"][1] == [joints_3d]
    cameras = np.asarray(index.index_tables["camera"][1])[index.index_tables["camera"][0]][train]
    assert sorted({c.rsplit("Cam", 1)[1] for c in cameras}, key=int) == ["0", "1", "2", "4", "5", "6", "7", "8"]

    # S3/Seq2 camera 5, read with scipy alone
    row = int(np.flatnonzero(cameras == "S3_Seq2_Cam5")[0])
    mat = loadmat(str(synth_3dhp / "mpi_inf_3dhp/S3/Seq2/annot.mat"))
    assert mat["annot2"].shape == (14, 1) and mat["annot3"][5, 0].shape == (1, 84)
    want3 = mat[joints_3d][5, 0].reshape(-1, 28, 3)[0, list(MPI3DHP_28_TO_17)]
    want2 = mat["annot2"][5, 0].reshape(-1, 28, 2)[0, list(MPI3DHP_28_TO_17)]
    np.testing.assert_allclose(index.gt3d_mm[train[row]], want3[list(MPI3DHP_TO_H36M)], rtol=1e-6)
    np.testing.assert_allclose(index.gt2d_px[train[row]], want2[list(MPI3DHP_TO_H36M)], rtol=1e-6)
    assert index.image_names[train[row]] == "mpi_inf_3dhp/S3/Seq2/imageSequence/video_5.avi#000000"
    assert index.frame_numbers[train[row]] == 1

    # intrinsics: the calibration's `intrinsic` row (the frames are rendered at the calibrated size)
    lines = (synth_3dhp / "mpi_inf_3dhp/S3/Seq2/camera.calibration").read_text().splitlines()
    block = lines[lines.index("name          5"):][:7]
    k = [float(v) for v in next(line for line in block if "intrinsic" in line).split()[1:]]
    np.testing.assert_allclose(index.camera[train[row], :4], [k[0], k[5], k[2], k[6]], rtol=1e-5)


def test_video_and_extracted_frames_are_the_same_frames(synth_3dhp):
    video = build_source(official_train(synth_3dhp), synth_3dhp).frame_index()
    images = build_source(official_train(synth_3dhp, train_frames="images"), synth_3dhp).frame_index()
    np.testing.assert_array_equal(video.gt3d_mm, images.gt3d_mm)
    name = images.image_names[0]
    assert name == "mpi_inf_3dhp/images/s_01_seq_01_ca_00/s_01_seq_01_ca_00_000001.jpg"
    a = load_frame(synth_3dhp, video.image_names[0]).astype(np.float64)
    b = load_frame(synth_3dhp, name).astype(np.float64)
    assert a.shape == b.shape and np.abs(a - b).mean() < 4.0  # MJPG re-encodes the JPEG: a few grey levels


def test_a_camera_subset(synth_3dhp):
    index = build_source(official_train(synth_3dhp, train_cameras=[0, 4]), synth_3dhp).frame_index()
    cameras = set(index.index_tables["camera"][1])
    assert {c for c in cameras if c.startswith("S")} == {f"S{s}_Seq{q}_Cam{c}" for s in range(1, 9)
                                                         for q in (1, 2) for c in (0, 4)}


def test_bad_training_input_is_one_line(synth_3dhp_copy):
    root = synth_3dhp_copy
    seq = root / "mpi_inf_3dhp/S2/Seq1"
    with pytest.raises(SourceError, match=r"camera 3 is not .*|video_3.avi: video not found"):
        build_source(official_train(root, train_cameras=[3]), root).frame_index()
    (seq / "camera.calibration").unlink()
    with pytest.raises(SourceError, match=rf"^{seq / 'camera.calibration'}: camera calibration not found$"):
        build_source(official_train(root), root).frame_index()
    mat = loadmat(str(seq / "annot.mat"))
    savemat(str(seq / "annot.mat"), {k: v for k, v in mat.items() if not k.startswith("__") and k != "univ_annot3"})
    with pytest.raises(SourceError, match=r"annot.mat: malformed annotation: missing field 'univ_annot3'"):
        build_source(official_train(root), root).frame_index()
    (seq / "annot.mat").write_bytes(b"not a mat file")
    with pytest.raises(SourceError, match=r"annot.mat: not a MATLAB v5 .mat file"):
        build_source(official_train(root), root).frame_index()


def test_authors_crop_is_the_2m_box_at_the_pelvis(synth_3dhp):
    """dataset.crop='authors' on 3DHP: their _infer_box, x +-1000 mm and y -900/+1100 mm at the pelvis's depth."""
    index = build_source(official_train(synth_3dhp, crop="authors"), synth_3dhp).frame_index()
    pelvis = index.gt3d_mm[:, 0].astype(np.float64)
    fx, fy, cx, cy = (index.camera[:, i].astype(np.float64) for i in range(4))
    x1 = (pelvis[:, 0] - 1000) / pelvis[:, 2] * fx + cx
    y2 = (pelvis[:, 1] + 1100) / pelvis[:, 2] * fy + cy
    np.testing.assert_allclose(index.bboxes_xyxy[:, 0], x1, rtol=1e-4)
    np.testing.assert_allclose(index.bboxes_xyxy[:, 3], y2, rtol=1e-4)
    assert index.bbox_padding == 1.0 and index.key_extra["crop"] == "authors"


def test_rows_past_the_last_frame_are_dropped_and_the_frame_step_thins(tmp_path):
    """A hand-made sequence: 6 annotation rows but 5 extracted frames of camera 0 (the real videos are
    shorter than their annotations); every 2nd frame kept."""
    import cv2

    from stages.synth.mpi3dhp_train import calibration_text, write_annotation

    rng = np.random.default_rng(0)
    camera = {"f": np.array([[100.0], [100.0]]), "c": np.array([[32.0], [32.0]]), "w": 64, "h": 64,
              "R": np.eye(3), "T": np.zeros((3, 1))}
    seq = tmp_path / "mpi_inf_3dhp/S4/Seq2"
    seq.mkdir(parents=True)
    (seq / "camera.calibration").write_text(calibration_text({c: camera for c in range(14)}))
    views = {c: {"annot2": rng.uniform(10, 50, (6, 17, 2)), "annot3": rng.normal(0, 300, (6, 17, 3)) + [0, 0, 4000],
                 "univ_annot3": rng.normal(0, 300, (6, 17, 3)) + [0, 0, 4000]} for c in range(14)}
    write_annotation(seq / "annot.mat", 6, views)
    folder = tmp_path / "mpi_inf_3dhp/images/s_04_seq_02_ca_00"
    folder.mkdir(parents=True)
    for frame in range(1, 6):
        cv2.imwrite(str(folder / f"s_04_seq_02_ca_00_{frame:06d}.jpg"), np.zeros((64, 64, 3), np.uint8))
    cfg = {**OFFICIAL, "annotation": ["mpi_inf_3dhp/S4/Seq2/annot.mat"], "train_cameras": [0],
           "train_frames": "images", "train_frame_step": 2}
    index = build_source(cfg, tmp_path).frame_index()
    assert index.frame_numbers.tolist() == [1, 3, 5]  # rows 0, 2, 4 of the 5 with a frame; row 5 has none
    np.testing.assert_allclose(index.gt3d_mm, views[0]["univ_annot3"][[0, 2, 4]][:, list(MPI3DHP_TO_H36M)],
                               rtol=1e-6)
    assert index.image_names[-1] == "mpi_inf_3dhp/images/s_04_seq_02_ca_00/s_04_seq_02_ca_00_000005.jpg"
    np.testing.assert_allclose(index.camera[0, :4], [100, 100, 32, 32])


def test_a_video_frame_read_again_after_the_videos_end(synth_3dhp):
    """One process extracting twice (a second store, `capf eval` after `capf extract` in-process) reads
    frame 0 again from a decoder that has hit the end of a 1-frame MJPG video, which cannot seek back."""
    name = "mpi_inf_3dhp/S1/Seq1/imageSequence/video_0.avi#000000"
    first, again = load_frame(synth_3dhp, name), load_frame(synth_3dhp, name)
    np.testing.assert_array_equal(first, again)
