"""External 2D detections in VideoPose3D's `.npz` layout, read into the annotation's frame order.

The files are written here exactly as VideoPose3D's own converters write them
(`data/prepare_data_2d_h36m_sh.py`, and the published `data_2d_h36m_cpn_ft_h36m_dbb.npz`):
`np.savez_compressed(path, positions_2d=output, metadata=metadata)` where
`output[subject][action]` is a list of 4 arrays (F, J, 2) float32, one per camera in the order
54138969, 55011271, 58860488, 60457274, actions named as the H36M files are ("Directions 1"), row
f = video frame f (0-based). mmpose's converter names a frame `<subject>_<action with _>.<camera>_
<f + 1:06d>.jpg`, so the same frame is row `number - 1` of the VideoPose3D sequence.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cache.store import FeatureStore
from pipeline.cli import main
from stages.extract.external2d import load_external_2d
from stages.extract.sources import SourceError, build_source
from tests.helpers import slim_extract_config, write_config

CAMERAS = ("54138969", "55011271", "58860488", "60457274")  # VideoPose3D's cam_map order
H36M_METADATA = {"layout_name": "h36m", "num_joints": 17,
                 "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
IMGNAME = re.compile(r"(S\d+)_(.+)\.(\d+)_(\d+)\.jpg")


def frames_of(annotation: Path) -> list[tuple[str, str, int, int]]:
    """(subject, VideoPose3D action name, camera slot, 0-based video frame) per annotation row."""
    rows = []
    for name in np.load(annotation)["imgname"]:
        subject, action, camera, number = IMGNAME.fullmatch(Path(str(name)).name).groups()
        rows.append((subject, action.replace("_", " "), CAMERAS.index(camera), int(number) - 1))
    return rows


def write_videopose3d(path: Path, frames: list[tuple[str, str, int, int]], joints: np.ndarray, *,
                      num_joints: int = 17, seed: int = 0) -> Path:
    """A VideoPose3D 2D file holding `joints[i]` at the row of frame i; every other row, camera and
    sequence holds other (decoy) detections, so a wrong lookup cannot read the right values."""
    rng = np.random.default_rng(seed)
    length = {}
    for subject, action, _, frame in frames:
        length[subject, action] = max(length.get((subject, action), 0), frame + 3)
    positions: dict[str, dict[str, list]] = {}
    for (subject, action), count in length.items():
        positions.setdefault(subject, {})[action] = [
            rng.uniform(0, 1000, (count, num_joints, 2)).astype(np.float32) for _ in CAMERAS]
    positions.setdefault("S9", {})["Walking"] = [rng.uniform(0, 1000, (5, num_joints, 2)).astype(np.float32)
                                                 for _ in CAMERAS]  # a sequence no frame asks for
    for (subject, action, camera, frame), values in zip(frames, joints):
        positions[subject][action][camera][frame, :17] = values
    np.savez_compressed(path, positions_2d=positions,
                        metadata={**H36M_METADATA, "num_joints": num_joints})
    return path


@pytest.fixture
def shuffled_copy(h36m_copy) -> Path:
    """The 12-frame copy with its annotation rows permuted: the store's order is the file's order."""
    path = h36m_copy / "test_h36m_body3d.npz"
    ann = dict(np.load(path))
    order = np.random.default_rng(1).permutation(len(ann["imgname"]))
    np.savez(path, **{key: value[order] for key, value in ann.items()})
    return h36m_copy


def real_detections(h36m_root: Path, count: int) -> np.ndarray:
    """(count, 17, 2) distinct joints from the real detections of the sample (shifted per copy)."""
    dets = np.load(h36m_root / "test_h36m_2d_detection.npy")[..., :2].astype(np.float32)
    return np.stack([dets[i % 4] + 0.25 * (i + 1) for i in range(count)])


def test_videopose3d_file_is_read_in_annotation_order(shuffled_copy, h36m_root, tmp_path):
    frames = frames_of(shuffled_copy / "test_h36m_body3d.npz")
    expected = real_detections(h36m_root, len(frames))
    path = write_videopose3d(tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz", frames, expected)
    index = build_source({"type": "h36m"}, shuffled_copy).frame_index()
    joints, scores, key = load_external_2d(path, index)
    assert joints.shape == (12, 17, 2) and joints.dtype == np.float32
    np.testing.assert_array_equal(joints, expected)
    np.testing.assert_array_equal(scores, np.ones((12, 17), np.float32))  # VideoPose3D files hold no scores
    assert re.fullmatch(r"external:[0-9a-f]{64}", key)
    # the key follows the file's content: other detections, another store
    other = write_videopose3d(tmp_path / "other.npz", frames, expected + 1)
    assert load_external_2d(other, index)[2] != key


def test_capf_extract_stores_videopose3d_joints(h36m_root, tmp_path):
    """Through `capf extract`: the store's kp2d are the file's joints, in the annotation's order."""
    frames = frames_of(h36m_root / "test_h36m_body3d.npz")
    assert [(f[0], f[1], f[3]) for f in frames] == [("S1", "Directions 1", 0), ("S5", "SittingDown", 2060),
                                                    ("S7", "Greeting", 395), ("S8", "WalkDog 1", 25)]
    expected = real_detections(h36m_root, 4)
    detections = write_videopose3d(tmp_path / "cpn.npz", frames, expected)
    config = write_config(tmp_path / "x.py", slim_extract_config(kp2d={"source": "external", "file": str(detections)}))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--random-init", "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "cache").glob("*.zarr")
    store = FeatureStore.open(path)
    np.testing.assert_array_equal(store.read("kp2d"), expected)
    assert store.spec.joint_format == "h36m17"


def test_capf_extract_names_a_frame_the_videopose3d_file_lacks(h36m_root, tmp_path):
    """Bad detections stop `capf extract` before any store exists, with one line naming the file."""
    frames = frames_of(h36m_root / "test_h36m_body3d.npz")
    detections = write_videopose3d(tmp_path / "cpn.npz", frames[:3], real_detections(h36m_root, 3))
    config = write_config(tmp_path / "x.py", slim_extract_config(kp2d={"source": "external", "file": str(detections)}))
    result = CliRunner().invoke(main, ["extract", "--config", str(config), "--data-root", str(h36m_root),
                                       "--random-init", "--cache-dir", str(tmp_path / "cache"), "--quiet"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == [
        f"Error: {detections}: no detection for S8 WalkDog_1 camera 55011271 frame 25"]
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def one_line_error(path: Path, index) -> str:
    with pytest.raises(SourceError) as caught:
        load_external_2d(path, index)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


@pytest.fixture
def sample(h36m_root):
    """The 4-frame sample's index and its VideoPose3D frames."""
    index = build_source({"type": "h36m"}, h36m_root).frame_index()
    return index, frames_of(h36m_root / "test_h36m_body3d.npz"), real_detections(h36m_root, 4)


def test_a_file_that_is_not_videopose3d_is_named(sample, h36m_root, tmp_path):
    index, _, _ = sample
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip archive at all")
    assert "not a VideoPose3D 2D file" in one_line_error(garbage, index)
    mmpose_layout = tmp_path / "annotation.npz"  # an mmpose annotation file given by mistake
    mmpose_layout.write_bytes((h36m_root / "test_h36m_body3d.npz").read_bytes())
    assert "not a VideoPose3D 2D file" in one_line_error(mmpose_layout, index)
    with pytest.raises(SourceError, match="must be an mmpose .npy or a VideoPose3D .npz"):
        load_external_2d(h36m_root / "cameras.pkl", index)
    with pytest.raises(SourceError, match="missing.npz: detections file not found"):
        load_external_2d(tmp_path / "missing.npz", index)


def test_a_frame_the_file_lacks_is_named(sample, tmp_path):
    index, frames, joints = sample
    # S8 "WalkDog 1" absent (as S11 "Directions" is absent from VideoPose3D's real files)
    no_action = write_videopose3d(tmp_path / "no_action.npz", frames[:3], joints[:3])
    assert "no detection for S8 WalkDog_1 camera 55011271 frame 25" in one_line_error(no_action, index)
    # S5 SittingDown frame 2060 past the end of a shorter sequence
    path = write_videopose3d(tmp_path / "short.npz", frames, joints)
    data = np.load(path, allow_pickle=True)
    positions = data["positions_2d"].item()
    positions["S5"]["SittingDown"] = [seq[:2000] for seq in positions["S5"]["SittingDown"]]
    np.savez_compressed(path, positions_2d=positions, metadata=data["metadata"].item())
    assert "no detection for S5 SittingDown camera 54138969 frame 2060" in one_line_error(path, index)


def test_a_camera_slot_left_empty_is_named(sample, tmp_path):
    index, frames, joints = sample
    path = write_videopose3d(tmp_path / "sh.npz", frames, joints)
    data = np.load(path, allow_pickle=True)
    positions = data["positions_2d"].item()
    positions["S7"]["Greeting"][1] = None  # camera 55011271
    np.savez_compressed(path, positions_2d=positions, metadata=data["metadata"].item())
    assert "S7 Greeting camera 55011271" in one_line_error(path, index)


def test_a_file_with_other_than_17_joints_names_the_joint_count(sample, tmp_path):
    index, frames, joints = sample
    path = write_videopose3d(tmp_path / "sh_16.npz", frames, joints[:, :16], num_joints=16)
    message = one_line_error(path, index).removeprefix(f"{path}: ")
    assert "16" in message and "17" in message and "no detection" not in message


def test_frame_number_zero_is_refused_not_wrapped(sample, tmp_path):
    index, frames, joints = sample
    path = write_videopose3d(tmp_path / "cpn.npz", frames, joints)
    numbers = index.frame_numbers.copy()
    numbers[0] = 0  # S1_Directions_1.54138969_000000.jpg: no such frame in mmpose's numbering
    assert "frame" in one_line_error(path, dataclasses.replace(index, frame_numbers=numbers))
