"""`capf infer INPUT`: a user's video, image folder or image -> person tracks, 2D, features, 3D, files.

    input (stages.infer.media) -> person boxes + tracks (stages.infer.boxes/tracking, cached)
      -> stage one into a content-keyed store (stages.extract: the `video`/`images` source, boxes JSON)
      -> the lifter over that store (stages.infer.lifting: the training/evaluation input assembly;
         a temporal lifter first gets the store's joint features and lifts along each person track)
      -> each record's root in camera space from the clip's camera (stages.export: a camera file, the
         video's <stem>.camera.json, or a default from the frame size and --fov)
      -> predictions.h5, results_<name>.json, <name>_3d.mp4|png, sampling/frame_<k>.png (stages.infer),
         metrics.json when the input has ground truth, and with --bvh one BVH per person track

The lifter is a CAPF checkpoint; its config is the run dir's `config.py` unless given. The 2D
detector is the one the lifter was trained on: the training store's attributes (reached through the
checkpoint's `store_path`) record its config and checkpoint sha256; a given detector checkpoint must
have that sha256. With no checkpoint at all, the demo's models are used (`make demo`'s steps run
first where their outputs are missing), and with no input as well, a synthetic clip with ground truth
is rendered, so the printed MPJPE can be checked against `capf eval` on the same store.

Outputs are written into a temporary folder beside `--out` and renamed into place at the end: an
error leaves nothing half-written there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from pipeline.config import default_cache_dir, load_config
from pipeline.options import CapfCommand, lift_model_options

if TYPE_CHECKING:  # imported lazily at run time, so `capf --help` stays fast
    from stages.infer.detector_choice import DetectorChoice, LiftModels
    from stages.infer.lifting import LiftCheckpoint
    from stages.infer.media import InputClip

DEMO_CLIP = dict(subject="S9", action="Walking", camera_id="54138969", n_frames=48, fps=25.0)


class InferError(click.ClickException):
    """Bad input for `capf infer` (one line, exit 1)."""


@dataclass
class InferRequest:
    input: Path | None = None                  # None: the demo's synthetic clip
    ckpt: Path | None = None                   # None: the demo's full CA-PF
    lift_config: Path | None = None            # None: <ckpt dir>/config.py
    detector_checkpoint: Path | None = None
    detector_config: str | None = None
    random_init: bool = False
    person_config: Path | None = None          # mmdet person detector
    person_checkpoint: Path | None = None
    boxes: Path | None = None
    ground_truth: Path | None = None           # default: <video>.gt.npz when it exists
    max_people: int | None = None
    out: Path | None = None
    cache_dir: Path | None = None
    demo_dir: Path = Path("work_dirs/demo")
    show_sampling: tuple[int, ...] | None = None  # None: the first and the middle frame with a person
    device: str = "auto"
    kpt_thr: float = 0.3
    bbox_thr: float = 0.3
    iou_thr: float = 0.3
    progress: bool = True
    camera: Path | None = None                 # camera file; None: <video>.camera.json, else the default
    camera_key: str | None = None              # which camera of a cameras.pkl ("S9,54138969")
    fov_deg: float | None = None               # the default camera's diagonal field of view
    root_smooth: float = 0.0                   # Gaussian sigma (frames) of the roots along a track
    bvh: bool = False                          # <name>_track<k>.bvh per person track


@dataclass
class InferResult:
    out: Path
    files: list[Path]
    store: Path
    boxes_cache_hit: bool
    store_cache_hit: bool
    num_records: int
    metrics: dict | None
    lines: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- defaults from the demo

def demo_models(demo_dir: Path) -> tuple[Path, Path]:
    """(lift checkpoint, detector checkpoint) of `make demo` in ``demo_dir``, running its steps first
    where their outputs are missing (each step is skipped when done)."""
    from pipeline.demo import DemoSettings, demo_world, run_demo
    from stages.detector.training import trained_detector

    settings = DemoSettings(world=demo_world(demo_dir), work_dir=Path(demo_dir))
    summary_path = settings.work_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    run_dir = summary.get("step3_full", {}).get("run_dir")
    detector = trained_detector(settings.work_dir / "detector")
    if not run_dir or not (Path(run_dir) / "best.pth").is_file() or detector is None:
        click.echo(f"[infer] the demo's models are missing: running `make demo`'s steps in {settings.work_dir}")
        run_dir = run_demo(settings)["step3_full"]["run_dir"]
        detector = trained_detector(settings.work_dir / "detector")
    return Path(run_dir) / "best.pth", Path(detector.checkpoint)


def demo_clip(demo_dir: Path) -> Path:
    """The default input: a synthetic test clip (S9 walking, one camera) with its ground truth and
    annotated person boxes, in the world (look) of the demo's data."""
    from pipeline.demo import demo_world
    from stages.synth.clip import annotated_boxes_path, camera_path, ground_truth_path, write_synthetic_clip

    name = f"{DEMO_CLIP['subject']}_{DEMO_CLIP['action']}.{DEMO_CLIP['camera_id']}"
    video = Path(demo_dir) / "infer_clip" / f"{name}.mp4"
    if not all(p.is_file() for p in (video, ground_truth_path(video), annotated_boxes_path(video), camera_path(video))):
        clip = write_synthetic_clip(video, **DEMO_CLIP, progress=True, look=demo_world(demo_dir))
        click.echo(f"[infer] synthetic clip: {clip.video} ({clip.num_frames} frames, ground truth {clip.ground_truth})")
    return video


# --------------------------------------------------------------------------- outputs

def _publish(tmp: Path, out: Path) -> None:
    """Move a finished output folder into place, replacing a previous run's."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{time.time_ns()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


# What a run writes into --out (``_write_outputs``): publishing a new run replaces the whole folder,
# so an existing --out may hold these and nothing else.
_OUTPUT_NAMES = ("predictions.h5", "results_*.json", "*_3d.mp4", "*_3d.png", "metrics.json", "sampling",
                 "sampling/frame_*.png")


def _check_out(out: Path) -> None:
    """Refuse an --out whose replacement would delete anything a run did not write."""
    if not out.exists():
        return
    entries = list(out.iterdir()) if out.is_dir() else None
    if entries is None or (entries and not (out / "predictions.h5").is_file()):
        raise InferError(f"{out}: exists and is not an earlier `capf infer` output; choose another --out")
    entries += list((out / "sampling").iterdir()) if (out / "sampling").is_dir() else []
    foreign = sorted(str(e.relative_to(out)) for e in entries
                     if not any(e.relative_to(out).match(pattern) for pattern in _OUTPUT_NAMES))
    if foreign:
        raise InferError(f"{out}: holds {foreign[0]!r}, which `capf infer` did not write and replacing the folder "
                         "would delete; move it or choose another --out")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "input"


# --------------------------------------------------------------------------- the run

@dataclass
class _Plan:
    """Everything resolved and checked before any detector runs or any output is written."""

    clip: InputClip
    out: Path
    cache_dir: Path
    checkpoint: LiftCheckpoint
    cfg: dict
    config_path: Path
    detector: DetectorChoice
    check_detector: Callable  # (levels, input_size_wh) -> None, raises LifterError
    sampling_frames: tuple[int, ...] | None  # None: chosen once the tracks are known
    boxes: Path | None  # a boxes JSON: given, or the demo clip's annotated boxes
    camera: object = None  # stages.export.intrinsics.Intrinsics of the clip


def resolve_models(*, ckpt: Path | None, lift_config: Path | None, detector_config: str | None,
                   detector_checkpoint: Path | None, random_init: bool, demo_dir: Path) -> LiftModels:
    """The lift checkpoint (none: the demo's, made if missing), its config and its 2D detector, with
    the crop size checked from the detector's config (no model built)."""
    from stages.detector.topdown import load_detector_config
    from stages.infer.detector_choice import LiftModels, choose_detector
    from stages.infer.lifting import LiftCheckpoint
    from stages.lift.settings import lift_settings

    demo_mode = ckpt is None
    if demo_mode:
        ckpt_path, demo_detector = demo_models(demo_dir)
        if detector_checkpoint is None and not random_init:
            detector_checkpoint = demo_detector
    else:
        ckpt_path = Path(ckpt)
    checkpoint = LiftCheckpoint.load(ckpt_path)
    config_path = Path(lift_config) if lift_config else checkpoint.path.parent / "config.py"
    if not config_path.is_file():
        raise InferError(f"{config_path}: no lift config beside the checkpoint; pass --lift-config / LIFT_CONFIG=")
    cfg = lift_settings(load_config(config_path))
    detector = choose_detector(cfg, checkpoint.meta, detector_config=detector_config,
                               detector_checkpoint=detector_checkpoint, random_init=random_init)
    models = LiftModels(checkpoint, cfg, config_path, detector, demo_mode)
    # the crop size is in the detector's config: no model needed to refuse a wrong one
    models.check_detector(None, tuple(int(v) for v in load_detector_config(detector.config).codec["input_size"]))
    return models


def _plan(request: InferRequest) -> _Plan:
    from stages.export.intrinsics import clip_intrinsics
    from stages.infer.media import open_input
    from stages.synth.clip import annotated_boxes_path, ground_truth_path

    if request.boxes is not None and request.person_config is not None:
        raise InferError(f"--boxes {request.boxes} and --person-config {request.person_config} both give person "
                         "boxes; pass one of them")
    demo_mode = request.ckpt is None
    input_path = Path(request.input) if request.input is not None else demo_clip(request.demo_dir)
    boxes = request.boxes
    if request.input is None and boxes is None and request.person_config is None:
        # the demo's own evaluation crops its test frames at the annotated boxes: so does its clip's
        boxes = annotated_boxes_path(input_path)
    cache_dir = Path(request.cache_dir) if request.cache_dir else (
        Path(request.demo_dir) / "cache" if demo_mode else default_cache_dir())

    gt = request.ground_truth
    if gt is None and input_path.is_file() and ground_truth_path(input_path).is_file():
        gt = ground_truth_path(input_path)
    clip = open_input(input_path, ground_truth=gt)
    out = Path(request.out) if request.out else Path("work_dirs/infer") / _slug(clip.name)
    _check_out(out)
    bad_frames = [k for k in request.show_sampling or () if not 0 <= k < len(clip)]
    if bad_frames:
        raise InferError(f"--show-sampling frame {bad_frames[0]} is outside {clip.path}'s {len(clip)} frames")
    # the cheap checks of the input and --out come first; then the models (made if missing, in demo mode)
    models = resolve_models(ckpt=request.ckpt, lift_config=request.lift_config,
                            detector_config=request.detector_config,
                            detector_checkpoint=request.detector_checkpoint, random_init=request.random_init,
                            demo_dir=request.demo_dir)
    camera = clip_intrinsics(clip.path, clip.name, clip.sizes_wh, camera=request.camera, key=request.camera_key,
                             fov_deg=request.fov_deg)  # CameraError: one line, before any work
    cfg = models.cfg
    deformable = cfg.get("model", {}).get("context", "deformable") == "deformable"
    if request.show_sampling and not deformable:
        raise InferError(f"{models.config_path}: --show-sampling needs a deformable lifter (context="
                         f"{cfg['model'].get('context')!r} samples no points)")
    return _Plan(clip, out, cache_dir, models.checkpoint, cfg, models.config_path, models.detector,
                 models.check_detector,
                 request.show_sampling if request.show_sampling is not None else (() if not deformable else None),
                 boxes, camera)


def run_infer(request: InferRequest) -> InferResult:
    """Boxes and tracks -> features -> 3D -> files (module docstring); each step a cache hit when done."""
    from stages.infer.features import clip_extract_request, clip_features
    from stages.infer.lifting import lift_window, load_lifter, prepare_store
    from stages.infer.outputs import Predictions
    from stages.infer.person_tracks import BoxSettings, person_tracks, records_arrays
    from stages.distributed import resolve_device
    from stages.lift.runtime import resolve_amp

    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        click.echo(f"[infer] {line}")

    plan = _plan(request)
    clip = plan.clip
    warning = _untrusted_warning(plan, demo=request.ckpt is None)
    if warning:
        say(warning)
    device = str(resolve_device(request.device))
    settings = BoxSettings(person_config=request.person_config, person_checkpoint=request.person_checkpoint,
                           boxes=plan.boxes, max_people=request.max_people, kpt_thr=request.kpt_thr,
                           bbox_thr=request.bbox_thr, iou_thr=request.iou_thr)
    tracks, box_detector = person_tracks(clip, settings, plan.detector, plan.cache_dir, device=device,
                                         check_detector=plan.check_detector, progress=request.progress)
    say(f"person boxes: {len(tracks.records)} in {len({r.frame for r in tracks.records})} of {len(clip)} frames, "
        f"{len({r.track for r in tracks.records})} track(s), from "
        + (f"{plan.boxes}" if tracks.source == "json" else tracks.source)
        + (f" (cache hit: {tracks.tracks_path.name}, no detector run)" if tracks.cache_hit else ""))
    extract = clip_extract_request(clip, tracks, plan.detector, plan.cache_dir, device=device,
                                   progress=request.progress)
    store, extraction = clip_features(extract, tracks, plan.detector, plan.check_detector,
                                      detector_checked=box_detector is not None)
    say(f"features: {extraction.summary()}")

    tcfg, ecfg = plan.cfg["train"], plan.cfg["eval"]
    torch_device = resolve_device(request.device)
    lifter = load_lifter(plan.cfg, plan.checkpoint, store, device=torch_device, batch_size=int(ecfg["batch_size"]),
                         flip_test=bool(ecfg["flip_test"]), amp=resolve_amp(tcfg["amp"], torch_device))
    joint_feats = prepare_store(lifter, store.path, progress=request.progress)
    say(f"lifter: {lifter.describe()}" + (f"; {joint_feats.summary()}" if joint_feats is not None else ""))
    columns = records_arrays(tracks.records)  # the store's records, in order (checked by clip_features)
    lifted = lift_window(lifter, store.path, np.arange(store.num_frames), track=columns["track"],
                         frame=columns["frame"])
    attrs = {"input": str(clip.path), "input_kind": clip.kind, "input_sha256": clip.digest, "fps": clip.fps,
             "num_frames": len(clip), "lift_config": str(plan.config_path),
             "lift_checkpoint": str(plan.checkpoint.path), "checkpoint_sha256": plan.checkpoint.sha256,
             "store_key": store.key, "store_path": str(store.path), "detector_config": plan.detector.config,
             "detector_checkpoint_sha256": store.attrs["key_inputs"]["checkpoint_sha256"],
             "person_boxes": tracks.source, "flip_test": lifter.flip_test,
             "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "warning": warning}
    if lifted.metrics:
        attrs.update(mpjpe_mm=float(lifted.metrics["mpjpe"]), p_mpjpe_mm=float(lifted.metrics["p_mpjpe"]))
        if lifted.metrics.get("mpjve") is not None:
            attrs["mpjve_mm"] = float(lifted.metrics["mpjve"])
    if lifter.temporal_frames is not None:
        attrs["temporal_frames"] = lifter.temporal_frames
    preds = Predictions.from_store(store, columns, lifted.kp3d_mm, attrs)
    from stages.export.infer_exports import attach_camera_space

    camera_lines, _ = attach_camera_space(preds, plan.camera, clip.sizes_wh[preds.frame],
                                          sigma_frames=request.root_smooth,
                                          gt3d_cam_mm=store.read("gt3d") if store.has("gt3d") else None)
    if plan.sampling_frames is None:  # by default: the first and the middle frame with a person
        frames = np.unique(preds.frame)
        plan.sampling_frames = tuple(sorted({int(frames[0]), int(frames[len(frames) // 2])}))
    files = _write_outputs(plan, preds, lifter, store, lifted.metrics, request)
    if lifted.metrics:
        mpjve = lifted.metrics.get("mpjve")
        say(f"MPJPE {lifted.metrics['mpjpe']:.2f} mm, P-MPJPE {lifted.metrics['p_mpjpe']:.2f} mm over "
            f"{len(preds)} frames against the ground truth in {clip.ground_truth} "
            f"(flip test {'on' if lifter.flip_test else 'off'})"
            + (f"; MPJVE {mpjve:.2f} mm (jitter: mean velocity error)" if mpjve is not None else ""))
    for line in camera_lines:  # after the MPJPE line, which tools (and tests) read first
        say(line)
    say(f"outputs in {plan.out}: " + ", ".join(str(f.relative_to(plan.out)) for f in files))
    return InferResult(plan.out, files, store.path, tracks.cache_hit, extraction.cache_hit, len(preds),
                       lifted.metrics, lines)


def _untrusted_warning(plan: _Plan, *, demo: bool) -> str | None:
    """One line when synthetic-trained models meet real input (``stages.infer.trust``)."""
    from stages.infer.trust import is_synthetic_clip, synthetic_training, untrusted_models_warning

    reason = synthetic_training(plan.cfg, plan.checkpoint.meta, plan.detector, demo=demo)
    return untrusted_models_warning(reason, str(plan.clip.path),
                                    synthetic_input=plan.clip.kind == "video" and is_synthetic_clip(plan.clip.path))


def _write_outputs(plan: _Plan, preds, lifter, store, metrics: dict | None, request: InferRequest) -> list[Path]:
    """All files into a temporary folder beside ``plan.out``, renamed into place once complete."""
    from stages.infer.outputs import write_predictions_h5, write_results_json
    from stages.infer.render import render_side_by_side
    from stages.lift.report import to_jsonable

    clip, out = plan.clip, plan.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir()
    try:
        files = [tmp / "predictions.h5", tmp / f"results_{clip.name}.json"]
        write_predictions_h5(files[0], preds)
        write_results_json(files[1], preds, num_frames=len(clip), single_image=clip.kind == "image",
                           warning=preds.attrs.get("warning"))
        suffix = ".png" if clip.kind == "image" else ".mp4"
        from stages.export.infer_exports import ground_path_overlay, write_bvhs

        files.append(render_side_by_side(tmp / f"{clip.name}_3d{suffix}", clip, preds, progress=request.progress,
                                         overlay=ground_path_overlay(preds, plan.camera)))
        if request.bvh:
            files += write_bvhs(tmp, clip.name, preds, plan.camera, clip.fps, lambda line: click.echo(f"[infer] {line}"))
        files += _sampling_pictures(tmp, plan.sampling_frames, lifter, store, clip, preds)
        if metrics:  # the clip's numbers against its ground truth, as `capf eval` writes them
            files.append(tmp / "metrics.json")
            files[-1].write_text(json.dumps(to_jsonable({**metrics, "flip_test": lifter.flip_test,
                                                         "store": str(store.path),
                                                         "checkpoint": str(plan.checkpoint.path)}), indent=2))
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return [out / f.relative_to(tmp) for f in files]


def _sampling_pictures(folder: Path, frames: tuple[int, ...], lifter, store, clip, preds) -> list[Path]:
    from stages.infer.sampling_view import write_sampling_picture

    written = []
    for k in frames:
        rows = preds.at_frame(k)
        if len(rows) == 0:
            click.echo(f"[infer] --show-sampling: nobody in frame {k}, no picture", err=True)
            continue
        (folder / "sampling").mkdir(exist_ok=True)
        order = np.sort(rows)
        written.append(write_sampling_picture(folder / "sampling" / f"frame_{k}.png", lifter, store.path, order,
                                              clip.frame(k), preds.track[order],
                                              f"{clip.name} frame {k}: last deformable layer's sampling points"))
    return written


# --------------------------------------------------------------------------- the command

def _frames_list(_ctx, _param, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    if value.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r}: give frame numbers like 0,10,20") from None


@click.command(cls=CapfCommand)
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@lift_model_options
@click.option("--boxes", type=click.Path(path_type=Path), default=None,
              help="Person boxes JSON (frame number or image name -> [x1, y1, x2, y2] or a list of them).")
@click.option("--gt", "ground_truth", type=click.Path(path_type=Path), default=None,
              help="Ground truth of a video (mmpose H36M npz, one row per frame); default: <video>.gt.npz if present.")
@click.option("--max-people", type=int, default=None, help="At most this many people per frame (highest scores).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Output folder (default work_dirs/infer/<input name>).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Where feature stores live (default $CAPF_CACHE_DIR, or the demo's cache for the demo's models).")
@click.option("--demo-dir", type=click.Path(path_type=Path), default=Path("work_dirs/demo"),
              help="The demo's folder (its models and synthetic clip are the defaults; the clip is rendered in "
                   "the world of its data, e.g. work_dirs/demo_limbs for `capf demo --world limbs`).")
@click.option("--show-sampling", callback=_frames_list, default=None,
              help="Frames (e.g. 0,24) to draw the learned deformable sampling points of, into sampling/ "
                   "(default: the first and the middle frame with a person; 'none': no pictures).")
@click.option("--kpt-thr", type=float, default=0.3, help="Joint confidence that counts, for boxes from the 2D detector.")
@click.option("--bbox-thr", type=float, default=0.3, help="Score threshold of the mmdet person detector.")
@click.option("--iou-thr", type=float, default=0.3, help="IoU that continues a track from one frame to the next.")
@click.option("--camera", type=click.Path(path_type=Path), default=None,
              help="Camera of the input (mmpose/Human3.6M cameras.pkl or a camera JSON: f, c px, optional w, h, R, "
                   "T); default: <video>.camera.json if present, else a default from the frame size and --fov.")
@click.option("--camera-key", default=None, help="Which camera of a cameras.pkl, e.g. S9,54138969 (default: from "
                                                  "the clip's <subject>_<action>.<camera> name, or the only one).")
@click.option("--fov", "fov_deg", type=float, default=None,
              help="Diagonal field of view (degrees) of the default camera, for a video with no camera "
                   "[default: 53.13, focal length = frame diagonal].")
@click.option("--root-smooth", type=float, default=0.0, show_default=True,
              help="Gaussian sigma in frames smoothing each track's camera-space root (0: per frame).")
@click.option("--bvh", is_flag=True, help="Also write <name>_track<k>.bvh per person track (Y up, metres).")
@click.option("--device", default="auto", help="cpu, cuda, cuda:1 … (auto: cuda if available).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def infer(input_path, ckpt, lift_config, detector_checkpoint, detector_config, random_init, person_config,
          person_checkpoint, boxes, ground_truth, max_people, out, cache_dir, demo_dir, show_sampling, kpt_thr, bbox_thr,
          iou_thr, camera, camera_key, fov_deg, root_smooth, bvh, device, quiet):
    """Your own video, image folder or image to 3D poses: boxes, 2D, context features, 3D, files.

    With no INPUT and no --ckpt: the demo's synthetic clip through the demo's models, with its MPJPE."""
    if max_people is not None and max_people < 1:
        raise click.BadParameter("must be at least 1", param_hint="--max-people")
    if root_smooth < 0:
        raise click.BadParameter("must be 0 (off) or a positive number of frames", param_hint="--root-smooth")
    request = InferRequest(input=input_path, ckpt=ckpt, lift_config=lift_config,
                           detector_checkpoint=detector_checkpoint, detector_config=detector_config,
                           random_init=random_init, person_config=person_config, person_checkpoint=person_checkpoint,
                           boxes=boxes, ground_truth=ground_truth, max_people=max_people, out=out, cache_dir=cache_dir,
                           demo_dir=demo_dir, show_sampling=show_sampling, device=device, kpt_thr=kpt_thr,
                           bbox_thr=bbox_thr, iou_thr=iou_thr, progress=not quiet, camera=camera,
                           camera_key=camera_key, fov_deg=fov_deg, root_smooth=root_smooth, bvh=bvh)
    run_infer(request)
