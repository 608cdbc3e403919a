"""``capf live``'s one function: open the source, build the models once, run the loop.

The lift checkpoint, its config and its 2D detector arrive resolved and checked as ``capf infer``
resolves them (``pipeline.infer.resolve_models``); here the detector is built once and checked
against the lifter's levels, the lifter is built for the detector's levels (no store), the boxes
come from the 2D detector's bootstrap or an mmdet person detector, and the warning about
synthetic-trained models on real input is decided.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from stages.infer.detector_choice import LiftModels
from stages.infer.person_tracks import BoxSettings
from stages.live.sources import open_source


@dataclass
class LiveRequest:
    source: str
    pace: str = "realtime"
    out: Path | None = None         # JSON lines; None: stdout
    video: Path | None = None
    show: bool = False
    max_frames: int | None = None
    device: str = "auto"
    boxes: BoxSettings = field(default_factory=BoxSettings)


def build_live_models(models: LiftModels, device) -> tuple:
    """(the 2D detector, the lifter for its levels): built once, checked against each other."""
    from stages.infer.detector_choice import build_detector
    from stages.infer.lifting import LifterError, geometry_of_levels, lifter_for_geometry
    from stages.lift.runtime import resolve_amp

    cfg, ecfg = models.cfg, models.cfg["eval"]
    if ecfg.get("flip_features", "auto") == "extracted":
        raise LifterError(f"{models.config_path}: eval.flip_features='extracted' reads a store's feat_flip maps; "
                          "live has no store: set it to 'auto' or 'mirrored'")
    detector = build_detector(models.detector, str(device))
    models.check_detector(detector.levels, detector.input_size_wh)
    geometry = geometry_of_levels(cfg, detector.levels, detector.input_size_wh)
    lifter = lifter_for_geometry(cfg, models.checkpoint, geometry, device=device, batch_size=1,
                                 flip_test=bool(ecfg["flip_test"]), amp=resolve_amp(cfg["train"]["amp"], device),
                                 dataset_type=str((cfg.get("dataset") or {}).get("type") or "video"))
    return detector, lifter


def start_live(request: LiveRequest, models: LiftModels, *, say: Callable[[str], None],
               stream=None) -> dict:
    """Open, build, run; returns the summary (``stages.live.session.run_live``)."""
    from stages.distributed import resolve_device
    from stages.infer.boxes import MmdetPersonDetector
    from stages.infer.lifting import LifterError
    from stages.infer.trust import is_synthetic_clip, synthetic_training, untrusted_models_warning
    from stages.live.frame_pipeline import FramePipeline
    from stages.live.reader import LatestFrameReader
    from stages.live.session import LiveOutputs, run_live
    from stages.live.view import display_problem

    settings = request.boxes
    if settings.boxes is not None:
        raise LifterError(f"{settings.boxes}: a boxes file needs the whole clip; `capf live` finds boxes per frame "
                          "(the 2D detector, or --person-config/--person-checkpoint); use `capf infer --boxes`")
    capture, info, first = open_source(request.source)
    try:
        device = resolve_device(request.device)
        detector, lifter = build_live_models(models, device)
        person = (MmdetPersonDetector(settings.person_config, settings.person_checkpoint, device=str(device),
                                      score_thr=settings.bbox_thr, nms_thr=settings.nms_thr)
                  if settings.person_config is not None or settings.person_checkpoint is not None else None)
    except BaseException:
        capture.release()
        raise
    reason = synthetic_training(models.cfg, models.checkpoint.meta, models.detector, demo=models.demo)
    warning = untrusted_models_warning(reason, info.label,
                                       synthetic_input=info.is_file and is_synthetic_clip(Path(info.spec)))
    if warning:
        say(warning)
    show = request.show
    if show and (problem := display_problem()):
        say(f"--show: {problem}; no window (the JSON lines{' and the video' if request.video else ''} are written)")
        show = False
    meta = {"lifter": lifter.describe(), "temporal_frames": lifter.temporal_frames,
            "models": {"lift_checkpoint": str(models.checkpoint.path), "checkpoint_sha256": models.checkpoint.sha256,
                       "lift_config": str(models.config_path), "detector_config": models.detector.config,
                       "detector_checkpoint_sha256": detector.checkpoint_sha256, "flip_test": lifter.flip_test,
                       "device": str(device), "person_boxes": "mmdet" if person is not None else "2d-detector"}}
    say(f"{info.label}: {info.kind}, {info.size_wh[0]}x{info.size_wh[1]}"
        + (f" at {info.fps:g} frames/s" if info.fps else "") + f", pace {request.pace}; lifter {lifter.describe()}")
    reader = LatestFrameReader(capture, info, first, pace=request.pace, max_frames=request.max_frames)
    pipeline = FramePipeline(detector, lifter, settings, person_detector=person)
    outputs = LiveOutputs(jsonl=request.out, stream=stream, video=request.video, show=show)
    return run_live(reader, pipeline, outputs, meta=meta, warning=warning, say=say)
