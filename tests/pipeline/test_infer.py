"""`capf infer` end to end: a tiny lifter trained here on slim-HRNet features, real videos and images in,
the four outputs out, a cache hit on the second run, `capf eval` agreeing on MPJPE, and bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.lift_cli import train
from stages.synth.clip import write_synthetic_clip
from tests.helpers import SHARED_DATA, SLIM_DETECTOR, make_h36m_copy, slim_extract_config, write_config
from tests.stages.lift.lift_stores import make_store, tiny_config

FOOTBALL = SHARED_DATA / "video" / "football_5frames.mp4"
RTMDET_PERSON = Path(__import__("mmpose").__file__).parent / ".mim/demo/mmdetection_cfg/rtmdet_nano_320-8xb32_coco-person.py"

torch.set_num_threads(1)  # small models: one thread is fastest, and the shared cores are not oversubscribed
OUTPUTS = ("predictions.h5", "results_{name}.json", "{name}_3d.mp4")


@pytest.fixture(scope="module")
def lifter(tmp_path_factory) -> Path:
    """best.pth of a tiny full CA-PF trained one epoch on 12 real frames through the slim HRNet
    (random init): the store records the detector config and `random-init:0`, as infer reads them."""
    root = tmp_path_factory.mktemp("lifter")
    data = make_h36m_copy(SHARED_DATA / "h36m", root / "h36m", repeats=3)
    cfg = {**slim_extract_config(shard_frames=4),
           **tiny_config(model=dict(levels=[0, 1, 2, 3]), data=dict(train_subjects=["S1", "S5"],
                                                                    test_subjects=["S7", "S8"]))}
    return _train_one_epoch(root, data, cfg, "slim")


def _train_one_epoch(root: Path, data: Path, cfg: dict, name: str) -> Path:
    """`capf train` of ``cfg`` (on the slim HRNet's levels) for one epoch; its best.pth."""
    cfg["detector_levels"] = dict(input_size_wh=(96, 128), strides=[4, 8, 16, 32], channels=[16, 32, 64, 128])
    config = write_config(root / f"{name}.py", cfg)
    result = CliRunner().invoke(train, ["--config", str(config), "--data-root", str(data), "--random-init",
                                        "--cache-dir", str(root / "cache"), "--work-dir", str(root / "work"),
                                        "--epochs", "1", "--workers", "0", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (root / "work" / name).iterdir()
    return run_dir / "best.pth"


@pytest.fixture(scope="module")
def temporal_lifter(tmp_path_factory) -> Path:
    """best.pth of a tiny temporal CA-PF-S over T = 9 frames, trained one epoch by `capf train` on the
    joint features extraction adds to the slim-HRNet store (a T longer than the 6-frame test clip)."""
    root = tmp_path_factory.mktemp("temporal_lifter")
    data = make_h36m_copy(SHARED_DATA / "h36m", root / "h36m", repeats=3)
    cfg = {**slim_extract_config(shard_frames=4),
           **tiny_config(train=dict(batch_size=4),
                         data=dict(train_subjects=["S1", "S5"], test_subjects=["S7", "S8"], frame_step=1))}
    cfg["model"] = dict(type="ContextAwarePoseFormerS", context="fusion", frames=9, levels=[0, 1, 2, 3], embed_dim=8,
                        depth=1, spatial_heads=4, fusion_heads=4, temporal_depth=1, temporal_heads=4,
                        ref_convention="mmpose")
    return _train_one_epoch(root, data, cfg, "slim_t9")


def infer(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["infer", *map(str, args), "--quiet"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def assert_outputs(out: Path, name: str, frames: int) -> dict:
    for pattern in OUTPUTS:
        assert (out / pattern.format(name=name)).is_file(), sorted(p.name for p in out.iterdir())
    with h5py.File(out / "predictions.h5", "r") as f:
        arrays = {key: f[key][:] for key in f}
        attrs = dict(f.attrs)
    r = len(arrays["frame"])
    assert r >= 1 and arrays["kp3d"].shape == (r, 17, 3) and arrays["kp2d"].shape == (r, 17, 2)
    assert arrays["box"].shape == (r, 4) and arrays["kp2d_score"].shape == (r, 17) and arrays["track"].shape == (r,)
    assert np.isfinite(arrays["kp3d"]).all() and np.abs(arrays["kp3d"][:, 0]).max() == 0  # root-relative
    assert set(arrays["frame"]) <= set(range(frames))
    assert len(attrs["checkpoint_sha256"]) == 64 and len(attrs["store_key"]) == 12 and attrs["lift_config"]
    capture = cv2.VideoCapture(str(out / f"{name}_3d.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames
    doc = json.loads((out / f"results_{name}.json").read_text())
    assert len(doc["instance_info"]) == frames and doc["meta_info"]["num_keypoints"] == 17
    return {"arrays": arrays, "attrs": attrs}


def mpjpe_of(output: str) -> float:
    return float(re.search(r"MPJPE ([0-9.]+) mm", output).group(1))


@pytest.mark.slow
def test_synthetic_clip_to_3d_matches_capf_eval_and_reruns_from_the_cache(lifter, tmp_path, monkeypatch):
    clip = write_synthetic_clip(tmp_path / "S7_Walking.54138969.mp4", subject="S7", n_frames=6,
                                image_size=(200, 200))
    cache, out = tmp_path / "cache", tmp_path / "out"
    args = [clip.video, "--ckpt", lifter, "--cache-dir", cache, "--out", out, "--kpt-thr", "0",
            "--show-sampling", "0,5"]
    code, output = infer(*args)
    assert code == 0, output
    result = assert_outputs(out, clip.video.stem, 6)
    arrays, attrs = result["arrays"], result["attrs"]
    assert arrays["frame"].tolist() == list(range(6)) and arrays["gt3d"].shape == (6, 17, 3)
    assert (out / "sampling" / "frame_0.png").stat().st_size > 0 and (out / "sampling" / "frame_5.png").is_file()

    # `capf eval` on the store infer wrote (it carries the clip's gt3d) reports the same MPJPE
    report = tmp_path / "eval"
    evaluation = CliRunner().invoke(main, ["eval", "--config", str(lifter.parent / "config.py"), "--ckpt",
                                           str(lifter), "--store", attrs["store_path"], "--out-dir", str(report),
                                           "--workers", "0", "--all-frames"])
    assert evaluation.exit_code == 0, evaluation.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert abs(metrics["mpjpe"] - attrs["mpjpe_mm"]) < 1e-9 and metrics["num_frames"] == 6
    assert mpjpe_of(output) == mpjpe_of(evaluation.output)

    # the second run of the same clip builds no detector at all: boxes and features are cache hits
    import stages.detector.topdown as detector_module

    def no_detector(*_args, **_kwargs):
        raise AssertionError("a detector was built on a cache hit")

    monkeypatch.setattr(detector_module.TopdownDetector, "__init__", no_detector)
    code, again = infer(*args)
    assert code == 0, again
    assert "person boxes" in again and "(cache hit" in again and "no detector work" in again
    with h5py.File(out / "predictions.h5", "r") as f:
        np.testing.assert_array_equal(f["kp3d"][:], arrays["kp3d"])
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no temporary folders left


@pytest.mark.slow
def test_a_temporal_checkpoint_on_the_default_clip_matches_capf_eval_and_outlasts_a_short_clip(temporal_lifter,
                                                                                                tmp_path):
    """`capf infer --ckpt <temporal>` with no INPUT (the demo's 48-frame synthetic clip): the same
    outputs, MPJPE and MPJVE equal to `capf eval` of the checkpoint on the store infer wrote; then a
    6-frame clip, shorter than T = 9 (edge padding), still lifts every frame."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    code, output = infer("--ckpt", temporal_lifter, "--demo-dir", tmp_path / "demo", "--cache-dir", cache,
                         "--out", out)
    assert code == 0, output
    assert "ContextAwarePoseFormerS over T = 9 frames" in output and "48 in 48 of 48 frames" in output
    result = assert_outputs(out, "S9_Walking.54138969", 48)
    arrays, attrs = result["arrays"], result["attrs"]
    assert arrays["frame"].tolist() == list(range(48)) and attrs["temporal_frames"] == 9
    assert not (out / "sampling").exists()  # no deformable sampling points to draw

    report = tmp_path / "eval"
    evaluation = CliRunner().invoke(main, ["eval", "--config", str(temporal_lifter.parent / "config.py"), "--ckpt",
                                           str(temporal_lifter), "--store", attrs["store_path"], "--out-dir",
                                           str(report), "--workers", "0", "--all-frames"])
    assert evaluation.exit_code == 0, evaluation.output
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["num_frames"] == 48 and abs(metrics["mpjpe"] - attrs["mpjpe_mm"]) < 1e-9
    assert metrics["mpjve"] is not None and abs(metrics["mpjve"] - attrs["mpjve_mm"]) < 1e-9
    assert mpjpe_of(output) == mpjpe_of(evaluation.output)
    assert f"MPJVE {metrics['mpjve']:.2f} mm" in output
    assert json.loads((out / "metrics.json").read_text())["mpjve"] == metrics["mpjve"]

    clip = write_synthetic_clip(tmp_path / "S7_Walking.54138969.mp4", subject="S7", n_frames=6,
                                image_size=(200, 200))
    code, output = infer(clip.video, "--ckpt", temporal_lifter, "--cache-dir", cache, "--out", tmp_path / "short",
                         "--kpt-thr", "0")
    assert code == 0, output
    arrays = assert_outputs(tmp_path / "short", clip.video.stem, 6)["arrays"]
    assert arrays["frame"].tolist() == list(range(6)) and re.search(r"MPJVE [0-9.]+ mm", output)
    assert len({tuple(np.round(kp.ravel(), 3)) for kp in arrays["kp3d"]}) == 6  # each frame its own window

    # a temporal lifter samples no points: asking for their pictures is one line, nothing written
    code, output = infer(clip.video, "--ckpt", temporal_lifter, "--cache-dir", cache, "--out",
                         tmp_path / "sampled", "--show-sampling", "0")
    assert code == 1 and "needs a deformable lifter" in output and not (tmp_path / "sampled").exists(), output


@pytest.mark.slow
def test_a_temporal_checkpoint_keeps_each_persons_track_to_itself(temporal_lifter, tmp_path):
    """Two people in every frame of the football clip (their records interleaved in the store): each
    track is its own sequence, so the first person's 3D is what a run with only that person gives."""
    boxes = {str(k): [[100 + 3 * k, 100, 260 + 3 * k, 400], [500 - 2 * k, 120, 640 - 2 * k, 420]] for k in range(5)}
    (tmp_path / "two.json").write_text(json.dumps(boxes))
    (tmp_path / "one.json").write_text(json.dumps({k: v[:1] for k, v in boxes.items()}))
    kp3d = {}
    for name in ("two", "one"):
        code, output = infer(FOOTBALL, "--ckpt", temporal_lifter, "--cache-dir", tmp_path / "cache", "--out",
                             tmp_path / name, "--boxes", tmp_path / f"{name}.json")
        assert code == 0, output
        with h5py.File(tmp_path / name / "predictions.h5", "r") as f:
            assert f["frame"][:].tolist() == ([0, 0, 1, 1, 2, 2, 3, 3, 4, 4] if name == "two" else list(range(5)))
            kp3d[name] = f["kp3d"][:]
    np.testing.assert_allclose(kp3d["two"][0::2], kp3d["one"], atol=0.05)
    assert np.abs(kp3d["two"][1::2] - kp3d["one"]).max() > 1.0  # the second person is lifted from their own crops


@pytest.mark.slow
def test_real_football_clip_image_folder_and_one_image(lifter, tmp_path):
    cache = tmp_path / "cache"
    code, output = infer(FOOTBALL, "--ckpt", lifter, "--cache-dir", cache, "--out", tmp_path / "football",
                         "--kpt-thr", "0", "--show-sampling", "2")
    assert code == 0, output
    assert_outputs(tmp_path / "football", "football_5frames", 5)
    assert (tmp_path / "football" / "sampling" / "frame_2.png").is_file()

    # several people from a boxes JSON: one track each (--max-people: tests/stages/infer/test_tracking.py)
    boxes = {str(k): [[100 + 3 * k, 100, 260 + 3 * k, 400], [500 - 2 * k, 120, 640 - 2 * k, 420]] for k in range(5)}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    code, output = infer(FOOTBALL, "--ckpt", lifter, "--cache-dir", cache, "--out", tmp_path / "two",
                         "--boxes", tmp_path / "boxes.json", "--show-sampling", "none")
    assert code == 0, output
    with h5py.File(tmp_path / "two" / "predictions.h5", "r") as f:
        assert f["frame"][:].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
        assert f["track"][:].tolist() == [0, 1] * 5
        np.testing.assert_allclose(f["box"][1::2, 0], [500 - 2 * k for k in range(5)])

    folder = tmp_path / "frames"
    folder.mkdir()
    capture = cv2.VideoCapture(str(FOOTBALL))
    for k in range(2):
        cv2.imwrite(str(folder / f"frame_{k}.jpg"), capture.read()[1])
    code, output = infer(folder, "--ckpt", lifter, "--cache-dir", cache, "--out", tmp_path / "folder",
                         "--kpt-thr", "0")
    assert code == 0, output
    assert_outputs(tmp_path / "folder", "frames", 2)
    # without --show-sampling: the first and the middle frame with a person
    assert sorted(p.name for p in (tmp_path / "folder" / "sampling").iterdir()) == ["frame_0.png", "frame_1.png"]
    assert not (tmp_path / "two" / "sampling").exists()
    code, output = infer(folder / "frame_1.jpg", "--ckpt", lifter, "--cache-dir", cache, "--out",
                         tmp_path / "image", "--kpt-thr", "0", "--show-sampling", "none")
    assert code == 0, output
    assert (tmp_path / "image" / "frame_1_3d.png").is_file() and (tmp_path / "image" / "predictions.h5").is_file()
    single = json.loads((tmp_path / "image" / "results_frame_1.json").read_text())
    assert "keypoints" in single["instance_info"][0]  # one image: the list of its instances


def _garbage_video(tmp_path: Path) -> list[str]:
    (tmp_path / "garbage.mp4").write_bytes(b"\x00not a video at all" * 10)
    return [tmp_path / "garbage.mp4"]


def _empty_video(tmp_path: Path) -> list[str]:
    (tmp_path / "empty.mp4").write_bytes(b"")
    return [tmp_path / "empty.mp4"]


def _imageless_folder(tmp_path: Path) -> list[str]:
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "readme.txt").write_text("no images here")
    return [tmp_path / "folder"]


def _nobody(tmp_path: Path) -> list[str]:
    writer = cv2.VideoWriter(str(tmp_path / "dark.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25, (96, 128))
    for _ in range(3):
        writer.write(np.zeros((128, 96, 3), np.uint8))
    writer.release()
    return [tmp_path / "dark.mp4", "--kpt-thr", "100"]  # no joint is ever that confident


def _camera_of_other_frames(tmp_path: Path) -> list[str]:
    """A camera file made for 100x100 frames, given for the football clip."""
    (tmp_path / "camera.json").write_text(json.dumps({"f": [100, 100], "c": [50, 50], "w": 100, "h": 100}))
    return [FOOTBALL, "--camera", tmp_path / "camera.json", "--bvh"]


def _mismatched_lifter(tmp_path: Path) -> list[str]:
    """A lifter trained on 24x32 crops, pointed at the slim HRNet (96x128 crops)."""
    store = make_store(tmp_path / "s.zarr", num_frames=16, shard_frames=8)
    config = write_config(tmp_path / "tiny.py", tiny_config())
    result = CliRunner().invoke(train, ["--config", str(config), "--store", str(store.path), "--work-dir",
                                        str(tmp_path / "work"), "--epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "work" / "tiny").iterdir()
    return [FOOTBALL, "--ckpt", run_dir / "best.pth", "--detector-config", SLIM_DETECTOR]


@pytest.mark.slow
@pytest.mark.parametrize("make, message", [
    (_garbage_video, "cannot open video"),
    (_empty_video, "cannot open video"),
    (_imageless_folder, "no images"),
    (_nobody, "no person found in any of its 3 frames"),
    (_mismatched_lifter, "trained on 24x32 (w x h) crops but the detector"),
    (_camera_of_other_frames, "the camera is for 100x100 frames but"),
])
def test_bad_input_is_one_line_and_leaves_no_output(lifter, tmp_path, make, message):
    args = make(tmp_path)
    if args[1:2] != ["--ckpt"] and "--ckpt" not in args:
        args += ["--ckpt", lifter]
    out = tmp_path / "out"
    code, output = infer(*args, "--cache-dir", tmp_path / "cache", "--out", out)
    assert code == 1, output
    error = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and message in error[0], output
    assert "Traceback" not in output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _person_detector_checkpoint(path: Path, *, sees_everyone: bool) -> Path:
    """mmpose's demo person detector (RTMDet-nano) with test-made weights: random, or with every
    anchor scoring 0.98 for a box of 3 strides around it (a detector that sees a person everywhere)."""
    from mmdet.apis import init_detector

    torch.manual_seed(0)
    model = init_detector(str(RTMDET_PERSON), None, device="cpu")
    if sees_everyone:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "rtm_cls" in name or "rtm_reg" in name:
                    param.fill_((4.0 if "rtm_cls" in name else 3.0) if name.endswith("bias") else 0.0)
    torch.save({"state_dict": model.state_dict()}, path)
    return path


@pytest.mark.slow
def test_mmdet_person_boxes_make_one_track_per_person(lifter, tmp_path):
    cache = tmp_path / "cache"
    weights = _person_detector_checkpoint(tmp_path / "everyone.pth", sees_everyone=True)
    code, output = infer(FOOTBALL, "--ckpt", lifter, "--cache-dir", cache, "--out", tmp_path / "mmdet",
                         "--person-config", RTMDET_PERSON, "--person-checkpoint", weights, "--max-people", "2",
                         "--show-sampling", "none")
    assert code == 0, output
    assert "from mmdet" in output and "2 track(s)" in output
    with h5py.File(tmp_path / "mmdet" / "predictions.h5", "r") as f:
        assert f["frame"][:].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4] and f["track"][:].tolist() == [0, 1] * 5
        assert (f["box_score"][:] > 0.9).all()
    random = _person_detector_checkpoint(tmp_path / "random.pth", sees_everyone=False)
    code, output = infer(FOOTBALL, "--ckpt", lifter, "--cache-dir", cache, "--out", tmp_path / "nobody",
                         "--person-config", RTMDET_PERSON, "--person-checkpoint", random)
    assert code == 1 and "no person found in any of its 5 frames by the mmdet detector" in output, output
    assert not (tmp_path / "nobody").exists()


@pytest.mark.slow
def test_no_arguments_run_the_demos_clip_through_the_demos_models(lifter, tmp_path):
    """`capf infer` with nothing but a demo folder: the demo's recorded models (here the tiny lifter and
    a saved slim detector), the synthetic clip rendered with its ground truth and annotated boxes."""
    from stages.detector.topdown import TopdownDetector

    demo = tmp_path / "demo"
    (demo / "detector").mkdir(parents=True)
    weights = demo / "detector" / "hrnet_slim.pth"
    torch.save({"state_dict": TopdownDetector(SLIM_DETECTOR, None, random_init=True).model.state_dict()}, weights)
    (demo / "detector" / "detector.json").write_text(json.dumps(
        {"checkpoint": str(weights), "sha256": "0" * 64, "pck": 0.0, "epochs": 0, "config": SLIM_DETECTOR}))
    (demo / "summary.json").write_text(json.dumps({"step3_full": {"run_dir": str(lifter.parent)}}))
    code, output = infer("--demo-dir", demo, "--out", tmp_path / "out", "--bvh")
    assert code == 0, output
    clip = demo / "infer_clip" / "S9_Walking.54138969.mp4"
    assert clip.is_file() and clip.with_suffix(".gt.npz").is_file() and clip.with_suffix(".camera.json").is_file()
    # camera space from the clip's own camera; these test models (a random detector, a lifter trained
    # one epoch) leave records unsolvable (no root in front of the camera): NaN and a count, no broken file
    assert f"of 48 records from {clip.with_suffix('.camera.json')}" in output
    with h5py.File(tmp_path / "out" / "predictions.h5", "r") as f:
        kp3d, kp3d_cam, root_cam = f["kp3d"][:], f["kp3d_cam"][:], f["root_cam"][:]
    assert kp3d_cam.shape == (48, 17, 3) and root_cam.shape == (48, 3)
    solved = np.isfinite(root_cam).all(axis=1)
    np.testing.assert_allclose(kp3d_cam[solved], (kp3d + root_cam[:, None])[solved], atol=1e-2)
    assert np.isnan(kp3d_cam[~solved]).all()
    doc = json.loads((tmp_path / "out" / "results_S9_Walking.54138969.json").read_text())
    first = doc["instance_info"][0]["instances"][0]
    assert (first["root_cam_mm"] is None) == (not solved[0])
    bvh = tmp_path / "out" / "S9_Walking.54138969_track0.bvh"
    if solved.any():
        from stages.synth.bvh import parse_bvh

        assert parse_bvh(bvh).n_frames == 48 and re.search(r"root position error [0-9.]+ mm", output)
    else:
        assert "track 0 has no frame with a camera-space pose" in output and not bvh.exists()
    assert f"from {clip.with_suffix('.boxes.json')}" in output and "48 in 48 of 48 frames" in output
    assert re.search(r"MPJPE [0-9.]+ mm, P-MPJPE [0-9.]+ mm over 48 frames", output)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["num_frames"] == 48 and abs(metrics["mpjpe"] - mpjpe_of(output)) < 0.005
    assert sorted(p.name for p in (tmp_path / "out" / "sampling").iterdir()) == ["frame_0.png", "frame_24.png"]
    assert (demo / "cache").is_dir()  # the demo's models keep their features in the demo's cache


def test_the_demos_clip_is_rendered_in_the_world_of_the_demos_data(tmp_path):
    """A limbs demo's clip is filmed in the limbs world; the same motion and truth as the default
    (clothing) world's clip (a demo dir with no data yet)."""
    from pipeline.demo import demo_world
    from pipeline.infer import demo_clip
    from stages.synth.writer import write_synthetic_h36m

    write_synthetic_h36m(tmp_path / "limbs" / "synth_h36m", n_train=2, n_test=1, image_size=(96, 96),
                         progress=False, look="limbs")
    assert (demo_world(tmp_path / "clothing"), demo_world(tmp_path / "limbs")) == ("clothing", "limbs")
    clips = {world: demo_clip(tmp_path / world) for world in ("clothing", "limbs")}
    truth = {world: video.with_suffix(".gt.npz").read_bytes() for world, video in clips.items()}
    assert truth["clothing"] == truth["limbs"]
    first = {world: cv2.VideoCapture(str(video)).read()[1].astype(int) for world, video in clips.items()}
    assert np.abs(first["clothing"] - first["limbs"]).max() > 60
