"""One frame through ``capf infer``'s own functions, in memory: boxes, tracks, crops, the 2D detector,
the lifter.

``capf infer`` runs the same steps over a whole clip and keeps stage one's arrays in a store; here
each function is called on one frame and its arrays stay in memory, in the very form the store
holds them (feature maps as float16, joints as float32, boxes at a thousandth of a pixel), so a
single-frame lifter gives frame t exactly what ``capf infer`` gives it, computed from frame t alone:

* boxes: ``PoseDetectorBoxes`` (the 2D detector's own single-person bootstrap, carried from the
  previous frame) or an mmdet person detector on the frame (``mmdet_frame_boxes``); tracks:
  ``IouTracker`` (mmpose's IoU matcher against the previous frame);
* crops and joints: the detector's ``crop`` (mmpose's test pipeline) and ``forward``, one batch of
  the frame's people, as stage one's runner calls them;
* lifter inputs: ``lifter_2d_inputs`` (COCO -> H36M-17, image-size normalisation, reference points);
* the lifter: ``lift_frame`` (single frame) or, for a temporal lifter, ``joint_features`` (what the
  store's ``joint_feat`` holds) into ``CausalWindows`` and ``lift_windows``; both through
  ``predict_batch``, the evaluation's forward with its flip test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.infer.boxes import PoseDetectorBoxes, mmdet_frame_boxes
from stages.infer.lifting import Lifter, lift_frame, lift_windows
from stages.infer.outputs import Predictions
from stages.infer.person_tracks import BoxSettings, records_arrays, stored_box
from stages.infer.tracking import IouTracker, TrackedBox
from stages.lift.dataset import lifter_2d_inputs
from stages.lift.joint_feats import joint_features
from stages.live.latency import StageClock
from stages.live.reader import CapturedFrame
from stages.live.windows import CausalWindows, ReadyTarget, WindowFrame

JOINT_FORMAT = "coco17"  # the 2D detector's own joints, as `capf infer` stores them


@dataclass
class FrameResult:
    """A processed frame's people with their 3D: ``preds`` holds R records (``Predictions`` layout)."""

    frame: CapturedFrame
    preds: Predictions
    stages_ms: dict[str, float]


@dataclass
class _Pending:
    """A processed frame waiting for its people's temporal windows."""

    frame: CapturedFrame
    records: dict[str, np.ndarray]
    kp2d: np.ndarray
    score: np.ndarray
    kp3d_mm: np.ndarray
    missing: int
    stages_ms: dict[str, float]


class FramePipeline:
    """``process(frame)`` -> the frames whose 3D is now known (frame t itself for a single-frame lifter;
    frame t - h once frame t has arrived for a temporal lifter over T = 2h + 1 frames)."""

    def __init__(self, detector, lifter: Lifter, settings: BoxSettings, *, person_detector=None):
        self.detector, self.lifter, self.settings = detector, lifter, settings
        self.find_people = ((lambda image, size: mmdet_frame_boxes(person_detector, image, size))
                            if person_detector is not None else PoseDetectorBoxes(detector, kpt_thr=settings.kpt_thr))
        self.tracker = IouTracker(max_people=settings.max_people, iou_thr=settings.iou_thr)
        self.levels = [f"feat/{name}" for name in lifter.geometry.names]
        frames = lifter.temporal_frames
        self.windows = CausalWindows(frames) if frames is not None else None
        self.pending: list[_Pending] = []  # temporal: processed frames in order, oldest first

    @property
    def delay_frames(self) -> int:
        """Frames after t that must arrive before t is lifted: 0, or (T - 1) / 2."""
        return self.windows.half if self.windows is not None else 0

    def process(self, frame: CapturedFrame, clock: StageClock) -> list[FrameResult]:
        image = frame.image
        size_wh = np.array([image.shape[1], image.shape[0]], dtype=np.int64)
        with clock("boxes"):
            tracked = self.tracker.update(frame.index, self.find_people(image, size_wh))
        records = _records(frame.index, tracked)
        detected = self._detect(image, records["box"], clock)
        with clock("lifter"):
            if detected is None:
                empty = (np.zeros((0, 17, 2), np.float32), np.zeros((0, 17), np.float32))
                pose2d = ref_px = maps = None
                kp2d, score = empty
            else:
                kp2d, score = detected["det_kp2d"], detected["det_score"]
                sizes = np.tile(size_wh, (len(tracked), 1))
                pose2d, ref_px = lifter_2d_inputs(kp2d, detected["det_kp2d_input"], sizes, JOINT_FORMAT)
                maps = [detected[name] for name in self.levels]
            if self.windows is None:
                kp3d = (lift_frame(self.lifter, pose2d, ref_px, maps) if pose2d is not None
                        else np.zeros((0, 17, 3), np.float32))
                return [FrameResult(frame, Predictions.from_arrays(records, kp2d, score, JOINT_FORMAT, kp3d),
                                    clock.ms)]
            return self._temporal(frame, records, kp2d, score, pose2d, ref_px, maps, clock.ms)

    def finish(self, clock: StageClock) -> list[FrameResult]:
        """The stream ended (or was stopped): a temporal lifter's pending frames, end-padded."""
        if self.windows is None:
            return []
        with clock("lifter"):
            self._lift(self.windows.finish())
        return self._complete(flush=True)

    def _detect(self, image: np.ndarray, boxes: np.ndarray, clock: StageClock) -> dict | None:
        """The 2D detector on the frame's boxes ``(P, 4)``, one batch; None for nobody."""
        if not len(boxes):
            return None
        with clock("crop"):
            packed = [self.detector.crop(image, box) for box in boxes]
        with clock("detector"):
            return self.detector.forward({"inputs": [p["inputs"] for p in packed],
                                          "data_samples": [p["data_samples"] for p in packed]})

    def _temporal(self, frame, records, kp2d, score, pose2d, ref_px, maps, stages_ms) -> list[FrameResult]:
        people: dict[int, WindowFrame] = {}
        state = _Pending(frame, records, kp2d, score, np.zeros((len(kp2d), 17, 3), np.float32), len(kp2d), stages_ms)
        if pose2d is not None:
            lifter = self.lifter
            feats = (joint_features(maps, ref_px, lifter.geometry.levels, lifter.geometry.input_size_wh,
                                    lifter.model.ref_convention) if lifter.model.context != "none" else [])
            for row, track in enumerate(records["track"]):
                people[int(track)] = WindowFrame(pose2d[row], [f[row] for f in feats], (state, row))
        self.pending.append(state)
        self._lift(self.windows.push(people))
        return self._complete(flush=False)

    def _lift(self, ready: list[ReadyTarget]) -> None:
        """Lift the ready targets in one batch over their distinct frames and fill in their 3D."""
        if not ready:
            return
        distinct: dict[int, int] = {}
        frames: list[WindowFrame] = []
        for target in ready:
            for member in target.window:
                if id(member) not in distinct:
                    distinct[id(member)] = len(frames)
                    frames.append(member)
        window = np.array([[distinct[id(m)] for m in t.window] for t in ready], dtype=np.int64)
        pose2d = np.stack([f.pose2d for f in frames])
        levels = len(frames[0].joint_feats)
        feats = [np.stack([f.joint_feats[level] for f in frames]) for level in range(levels)]
        kp3d = lift_windows(self.lifter, pose2d, feats, window)
        for target, pose in zip(ready, kp3d):
            state, row = target.target.payload
            state.kp3d_mm[row] = pose
            state.missing -= 1

    def _complete(self, *, flush: bool) -> list[FrameResult]:
        """The oldest pending frames whose people are all lifted, in order."""
        out = []
        while self.pending and (self.pending[0].missing == 0 or flush):
            state = self.pending.pop(0)
            preds = Predictions.from_arrays(state.records, state.kp2d, state.score, JOINT_FORMAT, state.kp3d_mm)
            out.append(FrameResult(state.frame, preds, state.stages_ms))
        return out


def _records(frame: int, tracked: list[TrackedBox]) -> dict[str, np.ndarray]:
    """The frame's records as ``capf infer``'s tracks files hand them to stage one (boxes stored at a
    thousandth of a pixel): frame, track, box ``(P, 4)`` float32, score."""
    return records_arrays([TrackedBox(frame, t.track, stored_box(t.box_xyxy), t.score) for t in tracked])
