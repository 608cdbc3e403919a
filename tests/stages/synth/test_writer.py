"""The dataset writer: mmpose's Human3.6M layout, exact projections, determinism, caching."""

import json
import pickle
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from stages.synth.coco import COCO_KEYPOINTS
from stages.synth.preview import contact_sheet
from stages.synth.skeleton import H36M_PARENTS
from stages.synth.writer import TEST_SUBJECTS, TRAIN_SUBJECTS, box_center_scale, write_synthetic_h36m

H36M = Path(__file__).resolve().parents[4] / "shared" / "data" / "h36m"
SIZE = (320, 240)  # small and non-square, to catch x/y mix-ups
NAME = re.compile(r"^(S\d+)/(\1_([A-Za-z]+)(_1)?\.(\d{8}))/\2_(\d{6})\.jpg$")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "a"
    write_synthetic_h36m(out, n_train=14, n_test=6, seed=3, image_size=SIZE, progress=False)
    return out


def _cameras_for(out: Path, names: np.ndarray) -> list[dict]:
    cameras = pickle.loads((out / "cameras.pkl").read_bytes())
    return [cameras[(m.group(1), m.group(5))] for m in (NAME.match(str(n)) for n in names)]


def test_npz_matches_the_real_fixture_layout(dataset: Path) -> None:
    real = np.load(H36M / "test_h36m_body3d.npz")
    for split, n in (("train", 14), ("test", 6)):
        ours = np.load(dataset / f"{split}_h36m_body3d.npz")
        assert sorted(ours.files) == sorted(real.files)
        for key in real.files:
            assert ours[key].dtype.kind == real[key].dtype.kind, key
            if key != "imgname":
                assert ours[key].dtype == real[key].dtype, key
            assert ours[key].shape == (n,) + real[key].shape[1:], key
        assert (ours["S"][..., 3] == 1).all() and (ours["part"][..., 2] == 1).all()


def test_names_follow_h36m_and_split_subjects(dataset: Path) -> None:
    for split, subjects in (("train", TRAIN_SUBJECTS), ("test", TEST_SUBJECTS)):
        names = np.load(dataset / f"{split}_h36m_body3d.npz")["imgname"]
        matches = [NAME.match(str(n)) for n in names]
        assert all(matches), names
        assert {m.group(1) for m in matches} == set(subjects)  # round-robin reaches every subject
        assert len(set(names.tolist())) == len(names)
        for n in names:
            image = cv2.imread(str(dataset / str(n)))
            assert image.shape == (SIZE[1], SIZE[0], 3)


def test_part_is_the_projection_of_s_inside_image_and_box(dataset: Path) -> None:
    for split in ("train", "test"):
        ann = np.load(dataset / f"{split}_h36m_body3d.npz")
        for i, cam in enumerate(_cameras_for(dataset, ann["imgname"])):
            s = ann["S"][i, :, :3]
            uv = s[:, :2] / s[:, 2:] * cam["f"][:, 0] + cam["c"][:, 0]
            assert np.abs(uv - ann["part"][i, :, :2]).max() < 0.5
            assert s[:, 2].min() > 2.0  # metres in front of the camera
        part = ann["part"][..., :2]
        assert (part >= 0).all() and (part[..., 0] <= SIZE[0] - 1).all() and (part[..., 1] <= SIZE[1] - 1).all()
        half = ann["scale"][:, None] * 100.0
        assert (np.abs(part - ann["center"][:, None, :]) <= half[..., None] + 1e-9).all()


def test_box_convention_reproduces_the_real_fixture() -> None:
    real = np.load(H36M / "test_h36m_body3d.npz")
    center, scale = box_center_scale(real["part"][..., :2])
    np.testing.assert_allclose(center, real["center"], atol=1e-6)
    np.testing.assert_allclose(scale, real["scale"], rtol=1e-6)


def test_bones_are_rigid_per_subject(dataset: Path) -> None:
    ann = np.load(dataset / "train_h36m_body3d.npz")
    subjects = np.array([str(n).split("/")[0] for n in ann["imgname"]])
    bones = np.linalg.norm(ann["S"][:, 1:, :3] - ann["S"][:, list(H36M_PARENTS[1:]), :3], axis=-1)
    for s in set(subjects):
        np.testing.assert_allclose(bones[subjects == s], np.broadcast_to(bones[subjects == s][0], bones[subjects == s].shape),
                                   atol=1e-9)
    assert 0.38 < np.median(bones[:, 1]) < 0.47  # thigh, metres


def test_coco_file_agrees_with_the_npz(dataset: Path) -> None:
    for split in ("train", "test"):
        coco = json.loads((dataset / f"{split}_coco.json").read_text())
        ann = np.load(dataset / f"{split}_h36m_body3d.npz")
        assert coco["categories"][0]["keypoints"] == list(COCO_KEYPOINTS)
        assert [im["file_name"] for im in coco["images"]] == [str(n) for n in ann["imgname"]]
        for im, a, part in zip(coco["images"], coco["annotations"], ann["part"]):
            assert a["image_id"] == im["id"] and (im["width"], im["height"]) == SIZE
            kps = np.asarray(a["keypoints"]).reshape(17, 3)
            assert (kps[:, 2] == 2).all() and a["num_keypoints"] == 17
            np.testing.assert_allclose(kps[5:, :2], part[[11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3], :2], atol=2e-3)
            np.testing.assert_allclose(kps[0, :2], part[9, :2], atol=2e-3)  # nose = face joint
            x, y, w, h = a["bbox"]
            assert 0 <= x and 0 <= y and x + w <= SIZE[0] + 0.01 and y + h <= SIZE[1] + 0.01
            body = part[:, :2]
            assert (body[:, 0] >= x - 1).all() and (body[:, 0] <= x + w + 1).all()  # box covers the body
            assert 0 < a["area"] <= w * h


def test_same_seed_same_bytes_other_seed_differs(dataset: Path, tmp_path: Path) -> None:
    """Byte-identical output for the same seed, also when rendered by several processes."""
    again = tmp_path / "b"
    write_synthetic_h36m(again, n_train=14, n_test=6, seed=3, image_size=SIZE, progress=False, workers=2)
    for name in ("train_h36m_body3d.npz", "test_h36m_body3d.npz", "train_coco.json", "test_coco.json",
                 "cameras.pkl", "meta.json"):  # fmt: skip
        assert (again / name).read_bytes() == (dataset / name).read_bytes(), name
    names = np.load(dataset / "train_h36m_body3d.npz")["imgname"]
    for n in names[::3]:
        assert (again / str(n)).read_bytes() == (dataset / str(n)).read_bytes()
    other = tmp_path / "c"
    write_synthetic_h36m(other, n_train=14, n_test=6, seed=4, image_size=SIZE, progress=False)
    a, b = np.load(dataset / "train_h36m_body3d.npz"), np.load(other / "train_h36m_body3d.npz")
    assert not np.allclose(a["S"], b["S"])


def test_complete_dataset_is_a_cache_hit_and_interrupted_one_is_redone(tmp_path: Path) -> None:
    out = tmp_path / "d"
    meta = write_synthetic_h36m(out, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False)
    assert meta["counts"]["train"]["frames"] == 3 and meta["counts"]["test"]["frames"] == 1
    npz = out / "train_h36m_body3d.npz"
    stamp = npz.stat().st_mtime_ns
    assert write_synthetic_h36m(out, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False) == meta
    assert npz.stat().st_mtime_ns == stamp  # nothing rewritten
    (out / "meta.json").unlink()  # as if the run had died before finishing
    write_synthetic_h36m(out, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False)
    assert npz.stat().st_mtime_ns != stamp and (out / "meta.json").exists()


def test_refuses_to_clear_a_folder_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "S1").mkdir()
    with pytest.raises(FileExistsError):
        write_synthetic_h36m(tmp_path, n_train=1, n_test=1, image_size=SIZE, progress=False)
    assert (tmp_path / "S1").exists()


def test_contact_sheet(dataset: Path) -> None:
    sheet = contact_sheet(dataset, n=6, tile_px=64, columns=3)
    assert sheet.shape == (128, 192, 3) and sheet.std() > 10


def test_the_look_is_recorded_and_another_look_is_not_a_cache_hit(tmp_path: Path) -> None:
    out = tmp_path / "e"
    limbs = write_synthetic_h36m(out, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False)
    assert limbs["look"] == "limbs" and limbs["params"]["look"] == "limbs"
    assert "warm" in limbs["conventions"]["left_right_colours"]
    names = np.load(out / "train_h36m_body3d.npz")["imgname"]
    before = {str(n): cv2.imread(str(out / str(n))).astype(int) for n in names}

    clothing = write_synthetic_h36m(out, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False,
                                    look="clothing")
    assert clothing["look"] == "clothing" and clothing["params"]["look"] == "clothing"
    assert "share" in clothing["conventions"]["left_right_colours"]
    assert json.loads((out / "meta.json").read_text()) == clothing
    assert (np.load(out / "train_h36m_body3d.npz")["imgname"] == names).all()  # same scenes, new colours
    for name, image in before.items():
        assert np.abs(cv2.imread(str(out / name)).astype(int) - image).max() > 60, name

    # A meta written before looks existed is the limbs look: still a hit for it, a miss for clothing.
    old = tmp_path / "f"
    write_synthetic_h36m(old, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False)
    meta = json.loads((old / "meta.json").read_text())
    del meta["params"]["look"], meta["look"]
    (old / "meta.json").write_text(json.dumps(meta))
    stamp = (old / "train_h36m_body3d.npz").stat().st_mtime_ns
    assert write_synthetic_h36m(old, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False) == meta
    assert (old / "train_h36m_body3d.npz").stat().st_mtime_ns == stamp
    write_synthetic_h36m(old, n_train=3, n_test=1, seed=0, image_size=SIZE, progress=False, look="clothing")
    assert json.loads((old / "meta.json").read_text())["look"] == "clothing"
