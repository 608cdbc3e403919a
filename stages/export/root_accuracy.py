"""How well the camera-space root is found, measured against ground truth (docs/exports.md's table).

Two inputs with known cameras and camera-frame 3D: a store's test split (``gt3d``, ``camera``, the
detector's ``kp2d``) and the output of ``capf infer`` on the demo's synthetic clip (its
``predictions.h5``, the store's ``gt3d`` and the clip's ``camera.json``). Rows, each over the same
records:

* ground-truth root-relative 3D + ground-truth 2D: the solve itself (should be ~0: a check);
* ground-truth root-relative 3D + the detector's 2D: the method's own error;
* the lifter's 3D + the detector's 2D: the chain's error (what ``capf infer`` writes);
* the same without the camera: the default camera from the frame size (53.13 degrees diagonal);
* on the clip, the chain with the roots smoothed along the track (sigma in frames);

and, on the four real Human3.6M frames of ``../shared/data/h36m`` (real cameras, real detections),
the first two rows.

Run: ``python -m stages.export.root_accuracy --demo-dir work_dirs/demo [--clip work_dirs/infer/<clip>]``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.export.camera_space import camera_space, camera_space_errors
from stages.export.intrinsics import DEFAULT_DIAGONAL_FOV_DEG, default_intrinsics


@dataclass
class RootInputs:
    """Per record R: what the solve reads and what it is scored against."""

    kp2d_px: np.ndarray        # (R, 17, 2) detected, Human3.6M order
    scores: np.ndarray         # (R, 17)
    intrinsics: np.ndarray     # (R, 4) fx fy cx cy
    sizes_wh: np.ndarray       # (R, 2)
    gt3d_cam_mm: np.ndarray    # (R, 17, 3) absolute camera frame
    track: np.ndarray          # (R,)
    frame: np.ndarray          # (R,)
    gt2d_px: np.ndarray | None = None

    @property
    def gt_rel_mm(self) -> np.ndarray:
        return self.gt3d_cam_mm - self.gt3d_cam_mm[:, :1]


def store_inputs(store_path: Path, records: np.ndarray) -> RootInputs:
    """A store's records: its detected 2D (in Human3.6M order), intrinsics, truth; each record its own track."""
    from cache.store import FeatureStore
    from stages.lift.joints import as_h36m17

    store = FeatureStore.open(store_path)
    fmt = store.spec.joint_format
    kp2d = as_h36m17(store.read("kp2d")[records], fmt)
    score = as_h36m17(store.read("score")[records][..., None], fmt)[..., 0]
    return RootInputs(kp2d, score, store.read("camera")[records, :4].astype(np.float64),
                      store.read("image_size")[records], store.read("gt3d")[records].astype(np.float64),
                      np.arange(len(records)), np.zeros(len(records), int),
                      store.read("gt2d")[records] if store.has("gt2d") else None)


def accuracy_rows(inputs: RootInputs, lifted_rel_mm: np.ndarray, *, sigmas: tuple[float, ...] = ()) -> list[dict]:
    """The module docstring's rows: ``camera_space_errors`` of each, with its label."""
    n = len(inputs.frame)
    ones = np.ones((n, 17))
    default = default_intrinsics(*(int(v) for v in inputs.sizes_wh[0])).rows(inputs.sizes_wh)
    cases = []
    if inputs.gt2d_px is not None:
        cases.append(("ground-truth 3D, ground-truth 2D (the solve itself)", inputs.gt_rel_mm, inputs.gt2d_px, ones,
                      inputs.intrinsics, 0.0))
    cases += [("ground-truth 3D, detected 2D (the method's own error)", inputs.gt_rel_mm, inputs.kp2d_px,
               inputs.scores, inputs.intrinsics, 0.0),
              ("lifter 3D, detected 2D (the chain)", lifted_rel_mm, inputs.kp2d_px, inputs.scores, inputs.intrinsics,
               0.0),
              (f"lifter 3D, detected 2D, default camera ({DEFAULT_DIAGONAL_FOV_DEG:.2f} deg diagonal)", lifted_rel_mm,
               inputs.kp2d_px, inputs.scores, default, 0.0)]
    cases += [(f"lifter 3D, detected 2D, roots smoothed (sigma {s:g} frames)", lifted_rel_mm, inputs.kp2d_px,
               inputs.scores, inputs.intrinsics, s) for s in sigmas]
    rows = []
    for label, rel, kp2d, weights, intrinsics, sigma in cases:
        space = camera_space(rel, kp2d, weights, intrinsics, track=inputs.track, frame=inputs.frame,
                             sigma_frames=sigma)
        rows.append({"input": label, **camera_space_errors(space.root_cam_mm, space.kp3d_cam_mm, inputs.gt3d_cam_mm)})
    return rows


def test_split_rows(run_dir: Path, store_path: Path, *, device: str = "cpu") -> tuple[list[dict], dict]:
    """The rows on the config's test split of a store, the lifter being ``run_dir``'s ``best.pth``
    lifted exactly as ``capf infer`` lifts (flip test as configured)."""
    import torch

    from cache.store import FeatureStore
    from pipeline.config import load_config
    from stages.infer.lifting import LiftCheckpoint, lift_window, load_lifter
    from stages.lift.dataset import select_frames
    from stages.lift.settings import lift_settings

    cfg = lift_settings(load_config(Path(run_dir) / "config.py"))
    store = FeatureStore.open(store_path)
    lifter = load_lifter(cfg, LiftCheckpoint.load(Path(run_dir) / "best.pth"), store, device=torch.device(device),
                         batch_size=int(cfg["eval"]["batch_size"]), flip_test=bool(cfg["eval"]["flip_test"]), amp=None)
    records = select_frames(store, cfg["data"]["test_subjects"])
    lifted = lift_window(lifter, store.path, records)
    rel = lifted.kp3d_mm - lifted.kp3d_mm[:, :1]
    info = {"records": int(len(records)), "store": str(store.path), "mpjpe_mm": float(lifted.metrics["mpjpe"]),
            "test_subjects": list(cfg["data"]["test_subjects"])}
    return accuracy_rows(store_inputs(store.path, records), rel), info


def clip_rows(infer_out: Path, *, sigmas: tuple[float, ...] = (1.0, 2.0, 4.0)) -> tuple[list[dict], dict]:
    """The rows on a ``capf infer`` output of a clip with ground truth and a camera file."""
    import h5py

    from cache.store import FeatureStore
    from stages.export.intrinsics import clip_intrinsics

    with h5py.File(Path(infer_out) / "predictions.h5", "r") as handle:
        arrays = {key: handle[key][:] for key in ("kp3d", "kp2d", "kp2d_score", "frame", "track")}
        attrs = dict(handle.attrs)
    store = FeatureStore.open(Path(attrs["store_path"]))
    video = Path(attrs["input"])
    sizes = np.tile(store.read("image_size")[:1], (len(arrays["frame"]), 1))
    camera = clip_intrinsics(video, video.stem, sizes)
    inputs = RootInputs(arrays["kp2d"].astype(np.float64), arrays["kp2d_score"], camera.rows(sizes), sizes,
                        store.read("gt3d").astype(np.float64), arrays["track"], arrays["frame"],
                        store.read("gt2d") if store.has("gt2d") else None)
    info = {"records": int(len(arrays["frame"])), "clip": str(video), "camera": camera.describe(),
            "mpjpe_mm": float(attrs.get("mpjpe_mm", float("nan")))}
    return accuracy_rows(inputs, arrays["kp3d"].astype(np.float64), sigmas=sigmas), info


def h36m_sample_rows(root: Path) -> tuple[list[dict], dict]:
    """The rows on real Human3.6M frames in mmpose's annotation layout (``test_h36m_body3d.npz``,
    ``cameras.pkl``, and ``test_h36m_2d_detection.npy``: real detections (N, 17, 3) with scores):
    ground-truth 3D with the annotated 2D and with the detections (no lifter row: no image features)."""
    import re

    from stages.export.intrinsics import load_camera

    ann = np.load(Path(root) / "test_h36m_body3d.npz")
    detections = np.load(Path(root) / "test_h36m_2d_detection.npy")
    intrinsics, sizes = [], []
    for name in ann["imgname"]:
        match = re.search(r"(S\d+)_.+\.(\d+)_\d+\.\w+$", str(name))
        camera = load_camera(Path(root) / "cameras.pkl", key=f"{match[1]},{match[2]}")
        intrinsics.append([camera.fx, camera.fy, camera.cx, camera.cy])
        sizes.append([camera.width or 1000, camera.height or 1000])
    n = len(intrinsics)
    truth = ann["S"][..., :3].astype(np.float64) * 1000.0
    inputs = RootInputs(detections[..., :2].astype(np.float64), detections[..., 2], np.array(intrinsics),
                        np.array(sizes), truth, np.arange(n), np.zeros(n, int), ann["part"][..., :2])
    rows = accuracy_rows(inputs, inputs.gt_rel_mm)[:2]  # the lifter rows would only repeat the truth
    return rows, {"records": n, "frames": [str(v) for v in ann["imgname"]]}


def markdown(rows: list[dict]) -> str:
    lines = ["| input | root error (mm) | of the camera distance | depth error (mm) | camera-space MPJPE (mm) | solved |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['input']} | {r['root_error_mm']:.1f} | {r['root_error_pct_of_distance']:.2f} % | "
              f"{r['root_depth_error_mm']:.1f} | {r['camera_mpjpe_mm']:.1f} | {r['solved']}/{r['records']} |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-dir", type=Path, default=Path("work_dirs/demo"))
    parser.add_argument("--clip", type=Path, default=Path("work_dirs/infer/S9_Walking_54138969"),
                        help="a `capf infer` output folder of the demo's clip (skipped if missing)")
    parser.add_argument("--out", type=Path, default=Path("work_dirs/exports/root_accuracy.json"))
    args = parser.parse_args()
    from stages.infer.lifting import LiftCheckpoint

    summary = json.loads((args.demo_dir / "summary.json").read_text())
    run_dir = Path(summary["step3_full"]["run_dir"])
    store = Path(LiftCheckpoint.load(run_dir / "best.pth").meta["store_path"])
    report = {}
    rows, info = test_split_rows(run_dir, store)
    report["test_split"] = {"info": info, "rows": rows}
    print(f"## test split: {info}\n{markdown(rows)}\n")
    if (args.clip / "predictions.h5").is_file():
        rows, info = clip_rows(args.clip)
        report["clip"] = {"info": info, "rows": rows}
        print(f"## clip: {info}\n{markdown(rows)}")
    from pipeline.h36m_sample import SHARED_DATA

    rows, info = h36m_sample_rows(SHARED_DATA / "h36m")
    report["h36m_sample"] = {"info": info, "rows": rows}
    print(f"\n## real Human3.6M sample: {info['records']} frames\n{markdown(rows)}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
