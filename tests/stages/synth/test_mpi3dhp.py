"""The synthetic MPI-INF-3DHP: both layouts on disk as the real ones are, and consistent with each other."""

import pickle

import h5py
import numpy as np
import pytest
from PIL import Image

from stages.extract.sources.mpi_inf_3dhp.common import STUDIO_TEST_CAMERA
from stages.lift.joints import mpi3dhp17_to_h36m17
from stages.synth.matfile import USER_BLOCK_BYTES
from stages.synth.mpi3dhp import UNIVERSAL_BONE_LENGTHS_MM, write_synthetic_3dhp
from stages.synth.skeleton import H36M_PARENTS

TEST_SET = "mpi_inf_3dhp_test_set"


def test_annot_data_mat_is_a_matlab_v73_file_seen_transposed_by_h5py(synth_3dhp):
    path = synth_3dhp / TEST_SET / "TS1" / "annot_data.mat"
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"  # the user block MATLAB writes
    with h5py.File(path, "r") as mat:
        assert mat.userblock_size == USER_BLOCK_BYTES
        n = mat["valid_frame"].shape[0]
        # MATLAB's 2 x 17 x 1 x N appears reversed, frames first, as in the real release
        assert mat["annot2"].shape == (n, 1, 17, 2) and mat["annot3"].shape == (n, 1, 17, 3)
        assert mat["univ_annot3"].shape == (n, 1, 17, 3)
        assert mat["valid_frame"].shape == (n, 1) and mat["activity_annotation"].shape == (n, 1)
        assert all(mat[k].attrs["MATLAB_class"] == b"double" for k in mat)
        assert set(np.unique(mat["activity_annotation"][()])) <= set(range(1, 8))
    images = sorted((path.parent / "imageSequence").glob("img_*.jpg"))
    assert [p.name for p in images] == [f"img_{i:06d}.jpg" for i in range(1, n + 1)]  # valid or not


def test_test_frames_have_the_calibrated_cameras_and_scene_sizes(synth_3dhp):
    studio = Image.open(synth_3dhp / TEST_SET / "TS2" / "imageSequence" / "img_000001.jpg").size
    outdoor = Image.open(synth_3dhp / TEST_SET / "TS6" / "imageSequence" / "img_000001.jpg").size
    assert studio == (256, 256) and outdoor == (240, 135)  # 2048x2048 and 1920x1080 at 1/8
    with h5py.File(synth_3dhp / TEST_SET / "TS2" / "annot_data.mat", "r") as mat:
        annot2, annot3 = mat["annot2"][:, 0], mat["annot3"][:, 0]
    fx, fy, cx, cy = STUDIO_TEST_CAMERA.intrinsics_px((256, 256))
    projected = annot3[..., :2] / annot3[..., 2:] * [fx, fy] + [cx, cy]
    np.testing.assert_allclose(projected, annot2, atol=1e-6)  # exact pinhole, the table's intrinsics
    assert fx == pytest.approx(1500.172288 / 8)


def test_univ_annot3_is_the_same_motion_on_the_universal_skeleton(synth_3dhp):
    with h5py.File(synth_3dhp / TEST_SET / "TS3" / "annot_data.mat", "r") as mat:
        annot3, univ = mpi3dhp17_to_h36m17(mat["annot3"][:, 0]), mpi3dhp17_to_h36m17(mat["univ_annot3"][:, 0])
    parents = np.array(H36M_PARENTS[1:])
    bones, univ_bones = annot3[:, 1:] - annot3[:, parents], univ[:, 1:] - univ[:, parents]
    np.testing.assert_allclose(np.linalg.norm(univ_bones, axis=-1),
                               np.broadcast_to(UNIVERSAL_BONE_LENGTHS_MM[1:], univ_bones.shape[:2]), rtol=1e-9)
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(unit(univ_bones), unit(bones), atol=1e-9)
    np.testing.assert_allclose(univ[:, 0], annot3[:, 0])  # same pelvis, camera frame, mm
    assert not np.allclose(univ, annot3)


def test_mmpose_layout_holds_the_valid_test_frames_of_the_official_one(synth_3dhp):
    npz = np.load(synth_3dhp / "annotations" / "mpi_inf_3dhp_test_valid.npz")
    assert set(npz.files) == {"imgname", "center", "scale", "part", "S"}
    names, rows = [], []
    for n in range(1, 7):
        with h5py.File(synth_3dhp / TEST_SET / f"TS{n}" / "annot_data.mat", "r") as mat:
            valid = np.flatnonzero(mat["valid_frame"][:, 0])
            rows.append((mat["annot2"][valid, 0], mat["annot3"][valid, 0]))
        names += [f"TS{n}_{r + 1:06d}.jpg" for r in valid]
    assert npz["imgname"].tolist() == names
    np.testing.assert_allclose(npz["part"][..., :2], np.concatenate([r[0] for r in rows]))
    np.testing.assert_allclose(npz["S"][..., :3], np.concatenate([r[1] for r in rows]) / 1000.0)  # metres
    assert npz["part"].shape[1:] == (17, 3) and npz["S"].shape[1:] == (17, 4)
    for name in names:  # the same bytes as the official frame
        seq, frame = name[:-4].split("_")
        official = synth_3dhp / TEST_SET / seq / "imageSequence" / f"img_{frame}.jpg"
        assert (synth_3dhp / "images" / name).read_bytes() == official.read_bytes()
    side = npz["scale"] * 200
    extent = (npz["part"][..., :2].max(1) - npz["part"][..., :2].min(1)).max(1)
    np.testing.assert_allclose(side, 1.2 * extent)  # mmpose's converter's box


def test_train_layout_and_cameras(synth_3dhp):
    npz = np.load(synth_3dhp / "annotations" / "mpi_inf_3dhp_train.npz")
    assert len(npz["imgname"]) == 16
    assert all(name.startswith("S") and "_Seq" in name and "_Cam" in name for name in npz["imgname"])
    with open(synth_3dhp / "annotations" / "cameras_train.pkl", "rb") as f:
        cameras = pickle.load(f)
    assert len(cameras) == 8 * 2 * 8 and set(cameras["S1_Seq1_Cam0"]) >= {"R", "T", "c", "f", "w", "h"}
    for name, part, joints in zip(npz["imgname"], npz["part"], npz["S"]):
        cam = cameras[name.rsplit("_", 1)[0]]
        projected = joints[:, :2] / joints[:, 2:3] * cam["f"][:, 0] + cam["c"][:, 0]
        np.testing.assert_allclose(projected, part[:, :2], atol=1e-6)
        assert (synth_3dhp / "images" / name).is_file()
    with open(synth_3dhp / "annotations" / "cameras_test.pkl", "rb") as f:
        assert sorted(pickle.load(f)) == [f"TS{n}" for n in range(1, 7)]


def test_same_seed_same_files_and_a_rerun_is_a_cache_hit(tmp_path, synth_3dhp):
    out = write_synthetic_3dhp(tmp_path / "again", n_train=16, n_test=18, seed=1, image_scale=0.125, progress=False)
    for rel in ("annotations/mpi_inf_3dhp_train.npz", "annotations/mpi_inf_3dhp_test_valid.npz",
                f"{TEST_SET}/TS5/annot_data.mat", f"{TEST_SET}/TS5/imageSequence/img_000002.jpg"):
        assert (tmp_path / "again" / rel).read_bytes() == (synth_3dhp / rel).read_bytes(), rel
    stamp = (tmp_path / "again" / "meta.json").stat().st_mtime_ns
    assert write_synthetic_3dhp(tmp_path / "again", n_train=16, n_test=18, seed=1, image_scale=0.125,
                                progress=False) == out
    assert (tmp_path / "again" / "meta.json").stat().st_mtime_ns == stamp


def test_refuses_to_overwrite_foreign_data(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(FileExistsError, match="not written by this generator"):
        write_synthetic_3dhp(tmp_path, n_train=1, n_test=6, image_scale=0.0625, progress=False)


def test_the_look_is_recorded_and_another_look_is_redrawn(tmp_path):
    out = tmp_path / "looks"
    limbs = write_synthetic_3dhp(out, n_train=1, n_test=6, image_scale=0.0625, progress=False)
    image = f"{TEST_SET}/TS3/imageSequence/img_000001.jpg"
    before = np.asarray(Image.open(out / image), dtype=int)
    clothing = write_synthetic_3dhp(out, n_train=1, n_test=6, image_scale=0.0625, progress=False, look="clothing")
    assert (limbs["look"], clothing["look"]) == ("limbs", "clothing")
    assert "share" in clothing["conventions"]["left_right_colours"]
    assert np.abs(np.asarray(Image.open(out / image), dtype=int) - before).max() > 60
