"""MPI-INF-3DHP frame sources on files written in both layouts, and broken copies of them."""

import pickle

import h5py
import numpy as np
import pytest

from stages.extract.sources import SourceError, build_source
from stages.extract.sources.mpi_inf_3dhp.common import OUTDOOR_TEST_CAMERA, STUDIO_TEST_CAMERA
from stages.lift.joints import mpi3dhp17_to_h36m17
from stages.settings import ConfigError
from stages.synth.matfile import write_mat73
from tests.helpers import SYNTH_3DHP_MMPOSE, SYNTH_3DHP_OFFICIAL

TEST_SET = "mpi_inf_3dhp_test_set"


def labels(index, name):
    codes, table = index.index_tables[name]
    return [table[c] for c in codes]


def test_mmpose_layout_reads_npz_and_cameras(synth_3dhp):
    index = build_source(SYNTH_3DHP_MMPOSE, synth_3dhp).frame_index()
    train = np.load(synth_3dhp / "annotations/mpi_inf_3dhp_train.npz")
    test = np.load(synth_3dhp / "annotations/mpi_inf_3dhp_test_valid.npz")
    names = np.concatenate([train["imgname"], test["imgname"]])
    assert index.image_names == [f"images/{n}" for n in names]
    S = np.concatenate([train["S"], test["S"]])
    part = np.concatenate([train["part"], test["part"]])
    # mm in the lifter's H36M-17 order; the inverse permutation gives the npz's rows back exactly
    np.testing.assert_allclose(index.gt3d_mm, mpi3dhp17_to_h36m17(S[..., :3]) * 1000.0, rtol=1e-6)
    np.testing.assert_allclose(index.gt2d_px, mpi3dhp17_to_h36m17(part[..., :2]), rtol=1e-6)
    np.testing.assert_allclose(index.gt3d_mm[:, 0], S[:, 14, :3] * 1000.0, rtol=1e-6)  # pelvis = 3DHP root
    centre = np.concatenate([train["center"], test["center"]])
    np.testing.assert_allclose((index.bboxes_xyxy[:, :2] + index.bboxes_xyxy[:, 2:]) / 2, centre, rtol=1e-5)

    n_train = len(train["imgname"])
    assert set(labels(index, "subject")[:n_train]) <= {f"S{s}" for s in range(1, 9)}
    assert labels(index, "subject")[n_train:] == [n.split("_")[0] for n in test["imgname"]]
    assert labels(index, "camera")[0] == train["imgname"][0].rsplit("_", 1)[0]  # S<s>_Seq<q>_Cam<c>
    assert labels(index, "activity")[:n_train] == ["unlabelled"] * n_train
    scenes = dict(zip(labels(index, "subject")[n_train:], labels(index, "scene")[n_train:]))
    assert scenes == {"TS1": "green screen", "TS2": "green screen", "TS3": "no green screen",
                      "TS4": "no green screen", "TS5": "outdoor", "TS6": "outdoor"}
    assert index.frame_numbers[n_train:].tolist() == [int(n[:-4].split("_")[1]) for n in test["imgname"]]
    with open(synth_3dhp / "annotations/cameras_test.pkl", "rb") as f:
        ts5 = pickle.load(f)["TS5"]
    row = n_train + labels(index, "subject")[n_train:].index("TS5")
    np.testing.assert_allclose(index.camera[row, :4], [*ts5["f"][:, 0], *ts5["c"][:, 0]], rtol=1e-6)
    assert index.image_sizes_wh[row].tolist() == [240, 135]


def test_official_layout_reads_valid_frames_with_h5py(synth_3dhp):
    index = build_source(SYNTH_3DHP_OFFICIAL, synth_3dhp / TEST_SET).frame_index()
    expected_names, activities, univ = [], [], []
    for n in range(1, 7):
        with h5py.File(synth_3dhp / TEST_SET / f"TS{n}/annot_data.mat", "r") as mat:
            valid = np.flatnonzero(mat["valid_frame"][:, 0])
            expected_names += [f"TS{n}/imageSequence/img_{r + 1:06d}.jpg" for r in valid]
            activities += mat["activity_annotation"][valid, 0].astype(int).tolist()
            univ.append(mat["univ_annot3"][valid, 0])
    assert index.image_names == expected_names  # valid frames only
    np.testing.assert_allclose(index.gt3d_mm, mpi3dhp17_to_h36m17(np.concatenate(univ)), rtol=1e-6)
    names = {1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching", 5: "On the floor",
             6: "Sports", 7: "Miscellaneous"}
    assert labels(index, "activity") == [names[a] for a in activities]
    assert index.key_extra == {"gt3d": "univ_annot3"}
    studio = index.camera[labels(index, "sequence").index("TS1")]
    outdoor = index.camera[labels(index, "sequence").index("TS6")]
    np.testing.assert_allclose(studio[:4], STUDIO_TEST_CAMERA.intrinsics_px((256, 256)), rtol=1e-6)
    np.testing.assert_allclose(outdoor[:4], OUTDOOR_TEST_CAMERA.intrinsics_px((240, 135)), rtol=1e-6)
    assert OUTDOOR_TEST_CAMERA.intrinsics_px() == pytest.approx((1683.9835, 1683.9835, 939.8576, 560.1407), abs=1e-3)


def test_both_layouts_agree_on_the_test_frames(synth_3dhp):
    """Same synthetic frames, two layouts: with annot3 chosen, the official reader gives exactly the
    mmpose reader's test rows (3D, 2D, boxes, activities, scenes)."""
    official = build_source({**SYNTH_3DHP_OFFICIAL, "joints_3d": "annot3"}, synth_3dhp / TEST_SET).frame_index()
    mmpose = build_source({**SYNTH_3DHP_MMPOSE, "annotation": "annotations/mpi_inf_3dhp_test_valid.npz",
                           "cameras": "annotations/cameras_test.pkl"}, synth_3dhp).frame_index()
    assert len(official) == len(mmpose) and official.key_extra == {"gt3d": "annot3"}
    np.testing.assert_allclose(official.gt3d_mm, mmpose.gt3d_mm, rtol=1e-6)
    np.testing.assert_allclose(official.gt2d_px, mmpose.gt2d_px, rtol=1e-6)
    np.testing.assert_allclose(official.bboxes_xyxy, mmpose.bboxes_xyxy, atol=1e-3)
    np.testing.assert_allclose(official.camera, mmpose.camera, rtol=1e-5)
    for name in ("activity", "scene", "sequence", "subject"):
        assert labels(official, name) == labels(mmpose, name), name
    np.testing.assert_array_equal(official.frame_numbers, mmpose.frame_numbers)
    with_pickle = build_source({**SYNTH_3DHP_OFFICIAL, "cameras": "../annotations/cameras_test.pkl"},
                               synth_3dhp / TEST_SET).frame_index()
    np.testing.assert_array_equal(with_pickle.camera, mmpose.camera)  # mmpose's cameras_test.pkl instead of the table


# --------------------------------------------------------------------------- bad input

def _rewrite_mat(path, drop=None, extra_frames=0):
    """Rewrite a test annotation in MATLAB order, without a field or with extra frames."""
    with h5py.File(path, "r") as mat:
        variables = {k: mat[k][()].T for k in mat if k != drop}  # back to MATLAB's dimension order
    if extra_frames:
        variables = {k: np.concatenate([v] + [v[..., -1:]] * extra_frames, axis=-1) for k, v in variables.items()}
    write_mat73(path, variables)


def test_mat_missing_a_field_is_one_line_naming_file_and_field(synth_3dhp_copy):
    path = synth_3dhp_copy / TEST_SET / "TS3/annot_data.mat"
    _rewrite_mat(path, drop="univ_annot3")
    with pytest.raises(SourceError, match=rf"^{path}: malformed annotation: missing field 'univ_annot3'") as error:
        build_source(SYNTH_3DHP_OFFICIAL, synth_3dhp_copy / TEST_SET).frame_index()
    assert "\n" not in str(error.value)


def test_sequence_folder_without_images_is_named(synth_3dhp_copy):
    folder = synth_3dhp_copy / TEST_SET / "TS4/imageSequence"
    for image in folder.iterdir():
        image.unlink()
    with pytest.raises(SourceError, match=rf"^{folder}: no images \(expected img_000001.jpg"):
        build_source(SYNTH_3DHP_OFFICIAL, synth_3dhp_copy / TEST_SET).frame_index()


def test_valid_frame_length_that_disagrees_with_the_images_is_named(synth_3dhp_copy):
    path = synth_3dhp_copy / TEST_SET / "TS5/annot_data.mat"
    _rewrite_mat(path, extra_frames=2)
    with pytest.raises(SourceError, match=rf"^{path}: valid_frame has \d+ frames but .*TS5/imageSequence holds "
                                          r"\d+ images"):
        build_source(SYNTH_3DHP_OFFICIAL, synth_3dhp_copy / TEST_SET).frame_index()


def test_a_mat_that_is_not_hdf5_is_named(synth_3dhp_copy):
    path = synth_3dhp_copy / TEST_SET / "TS2/annot_data.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, not HDF5" + bytes(200))
    with pytest.raises(SourceError, match=rf"^{path}: not a MATLAB v7.3 \(HDF5\) .mat file"):
        build_source(SYNTH_3DHP_OFFICIAL, synth_3dhp_copy / TEST_SET).frame_index()


def test_mmpose_names_and_cameras_are_checked(synth_3dhp_copy):
    path = synth_3dhp_copy / "annotations/mpi_inf_3dhp_test_valid.npz"
    ann = dict(np.load(path))
    ann["imgname"] = np.array(["TS1-000001.jpg"] + ann["imgname"][1:].tolist())
    np.savez(path, **ann)
    with pytest.raises(SourceError, match=r"imgname 'TS1-000001.jpg' is neither S<s>_Seq<q>_Cam<c>_<frame>.jpg"):
        build_source(SYNTH_3DHP_MMPOSE, synth_3dhp_copy).frame_index()
    with pytest.raises(SourceError, match=r"cameras_test.pkl: no camera 'S\d_Seq\d_Cam\d' \(needed by S"):
        build_source({**SYNTH_3DHP_MMPOSE, "annotation": "annotations/mpi_inf_3dhp_train.npz",
                      "cameras": "annotations/cameras_test.pkl"}, synth_3dhp_copy).frame_index()


@pytest.mark.parametrize("cfg, error, message", [
    ({"layout": "matlab"}, ConfigError, r"dataset.layout must be one of \['mmpose', 'official'\]"),
    ({"layout": "official", "images": "images"}, ConfigError,
     r"unknown config key dataset \(type='mpi_inf_3dhp', layout='official'\).'images'"),
    ({"layout": "official", "joints_3d": "annot2"}, SourceError, "dataset.joints_3d must be one of"),
])
def test_config_mistakes_are_one_line(synth_3dhp, cfg, error, message):
    with pytest.raises(error, match=message):
        build_source({"type": "mpi_inf_3dhp", **cfg}, synth_3dhp).frame_index()
