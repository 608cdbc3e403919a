"""Person boxes per frame, from one of three sources (``capf infer`` tries them in this order):

1. an mmdet person detector (config + checkpoint), as mmpose's top-down demos do: category 0,
   a score threshold, then mmpose's NMS;
2. a boxes JSON (the ``video``/``images`` frame sources' format: frame key -> box or list of boxes);
3. the 2D pose detector itself: the whole frame first, then the box of its confident joints grown
   by 25%, carried from frame to frame (one person). A frame where too few joints are confident
   loses the person; the search starts again from the whole frame, and when that finds nobody (a
   person small in a large frame is small in the detector's crop too), from windows of a half and
   a third of the frame at half-window steps, all in one batch, keeping the most confident.

Every source returns ``{frame: [Detection, ...]}``; boxes are clipped to the image and boxes
narrower or lower than ``MIN_BOX_PX`` dropped, so a box never lies outside its frame (stage one
refuses such boxes). Tracks are assigned afterwards (``stages.infer.tracking``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.extract.sources import SourceError
from stages.extract.sources.media import _load_boxes
from stages.infer.media import InputClip

MIN_BOX_PX = 4.0
SEARCH_DIVISIONS = (2, 3)  # search windows of 1/2 and 1/3 of the frame (9 + 25 of them)
MIN_CONFIDENT_JOINTS = 4  # fewer joints do not say where a person's extent is
GROW = 1.25  # the confident joints' box grown by 25% (mmpose's crop then pads by its own 1.25)


class BoxError(ValueError):
    """A person-box source cannot be used (missing files, no person anywhere); one line."""


@dataclass(frozen=True)
class Detection:
    box_xyxy: tuple[float, float, float, float]  # image pixels
    score: float


FrameBoxes = dict[int, list[Detection]]


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray | None:
    """``(4,)`` xyxy clipped to the image; None when what is left is thinner than MIN_BOX_PX."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = np.clip([x1, x2], 0.0, float(width))
    y1, y2 = np.clip([y1, y2], 0.0, float(height))
    if x2 - x1 < MIN_BOX_PX or y2 - y1 < MIN_BOX_PX:
        return None
    return np.array([x1, y1, x2, y2], dtype=np.float64)


def _detections(boxes: np.ndarray, scores: np.ndarray, size_wh) -> list[Detection]:
    out = []
    for box, score in zip(boxes, scores):
        clipped = clip_box(box, int(size_wh[0]), int(size_wh[1]))
        if clipped is not None:
            out.append(Detection(tuple(float(v) for v in clipped), float(score)))
    return out


def _video_key(key: str) -> str:
    """A video frame's key as the video source writes it ("007" and "7" are frame 7)."""
    try:
        return str(int(key))
    except ValueError:
        return key


def boxes_from_json(path: Path, clip: InputClip) -> FrameBoxes:
    """Boxes of a JSON file keyed like the frame sources (frame number of a video, image file name)."""
    raw = _load_boxes(Path(path))
    frame_of = {key: k for k, key in enumerate(clip.keys)}
    out: FrameBoxes = {}
    for key, boxes in raw.items():
        norm = _video_key(key) if clip.kind == "video" else key
        if norm not in frame_of:
            raise SourceError(f"{path}: frame '{key}' is not a frame of {clip.path}")
        k = frame_of[norm]
        array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out[k] = _detections(array, np.ones(len(array)), clip.sizes_wh[k])
    return out


class MmdetPersonDetector:
    """An mmdet detector kept to persons (mmpose's ``topdown_demo_with_mmdet.py`` recipe)."""

    def __init__(self, config: Path, checkpoint: Path, *, device: str = "cpu", category_id: int = 0,
                 score_thr: float = 0.3, nms_thr: float = 0.3):
        for label, path in (("person detector config", config), ("person detector checkpoint", checkpoint)):
            if not Path(path).is_file():
                raise BoxError(f"{path}: {label} not found")
        from mmdet.apis import init_detector
        from mmpose.utils import adapt_mmdet_pipeline

        try:
            self.model = init_detector(str(config), str(checkpoint), device=device)
        except Exception as error:  # mmdet raises many kinds for a bad config or checkpoint
            raise BoxError(f"{config}: cannot build the mmdet detector ({type(error).__name__}: {error})") from error
        self.model.cfg = adapt_mmdet_pipeline(self.model.cfg)
        self.category_id, self.score_thr, self.nms_thr = category_id, score_thr, nms_thr

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """-> boxes ``(K, 4)`` xyxy px and scores ``(K,)`` of the persons in one frame."""
        from mmdet.apis import inference_detector
        from mmpose.evaluation.functional import nms

        pred = inference_detector(self.model, image_bgr).pred_instances.cpu().numpy()
        keep = (pred.labels == self.category_id) & (pred.scores > self.score_thr)
        boxes = np.concatenate([pred.bboxes[keep], pred.scores[keep, None]], axis=1)
        boxes = boxes[nms(boxes, self.nms_thr)] if len(boxes) else boxes
        return boxes[:, :4], boxes[:, 4]


def boxes_from_mmdet(detector: MmdetPersonDetector, clip: InputClip, progress: bool = True) -> FrameBoxes:
    return {k: mmdet_frame_boxes(detector, clip.frame(k), clip.sizes_wh[k])
            for k in _frames(clip, progress, "person boxes (mmdet)")}


def mmdet_frame_boxes(detector: MmdetPersonDetector, image_bgr: np.ndarray, size_wh) -> list[Detection]:
    """The persons of one frame, clipped to it."""
    boxes, scores = detector(image_bgr)
    return _detections(boxes, scores, size_wh)


def _frames(clip: InputClip, progress: bool, label: str):
    from tqdm import tqdm

    return tqdm(range(len(clip)), desc=label, unit="frame", disable=not progress, dynamic_ncols=True)


def joints_box(joints_px: np.ndarray, scores: np.ndarray, size_wh, *, kpt_thr: float,
               min_joints: int = MIN_CONFIDENT_JOINTS, grow: float = GROW) -> Detection | None:
    """The box of the confident joints grown by ``grow`` about its centre, clipped to the image.

    Args: ``(17, 2)`` joints in image px, ``(17,)`` scores. None when fewer than ``min_joints``
    joints reach ``kpt_thr`` (the person is lost in this frame).
    """
    confident = scores >= kpt_thr
    if int(confident.sum()) < min_joints:
        return None
    lo, hi = joints_px[confident].min(axis=0), joints_px[confident].max(axis=0)
    centre, half = (lo + hi) / 2.0, (hi - lo) / 2.0 * grow
    box = clip_box(np.concatenate([centre - half, centre + half]), int(size_wh[0]), int(size_wh[1]))
    if box is None:
        return None
    return Detection(tuple(float(v) for v in box), float(scores[confident].mean()))


def search_windows(width: float, height: float, divisions=SEARCH_DIVISIONS) -> np.ndarray:
    """``(K, 4)`` xyxy windows of ``1/n`` of the frame for each ``n``, at half-window steps."""
    windows = []
    for n in divisions:
        w, h = width / n, height / n
        for iy in range(2 * n - 1):
            for ix in range(2 * n - 1):
                windows.append([ix * w / 2, iy * h / 2, ix * w / 2 + w, iy * h / 2 + h])
    return np.asarray(windows, dtype=np.float64)


class PoseDetectorBoxes:
    """One person followed by the 2D detector (a ``TopdownDetector``), frame by frame: see the
    module docstring. Call it on each frame in order; its state is the box carried from the last.

    A search takes a second step at the box it found, because the search crop shows the person
    small; a carried box is already about the person's size.
    """

    def __init__(self, detector, *, kpt_thr: float = 0.3):
        self.detector, self.kpt_thr = detector, kpt_thr
        self.carried: Detection | None = None

    def _look(self, image: np.ndarray, boxes: np.ndarray, size_wh) -> Detection | None:
        """The most confident person over the crops of ``boxes`` ``(K, 4)``, in one batch."""
        packed = [self.detector.crop(image, np.asarray(box, np.float32)) for box in boxes]
        out = self.detector.forward({"inputs": [p["inputs"] for p in packed],
                                     "data_samples": [p["data_samples"] for p in packed]})
        found = [joints_box(kp, score, size_wh, kpt_thr=self.kpt_thr)
                 for kp, score in zip(out["det_kp2d"], out["det_score"])]
        found = [d for d in found if d is not None]
        return max(found, key=lambda d: d.score) if found else None

    def __call__(self, image: np.ndarray, size_wh) -> list[Detection]:
        """The person of this frame (``[]`` when nobody is found), ``image`` BGR ``(H, W, 3)``."""
        look = self._look
        found = look(image, np.asarray([self.carried.box_xyxy]), size_wh) if self.carried is not None else None
        if found is None:  # nothing carried, or the person was lost: search the whole frame, then windows
            found = (look(image, np.array([[0.0, 0.0, size_wh[0], size_wh[1]]]), size_wh)
                     or look(image, search_windows(size_wh[0], size_wh[1]), size_wh))
            if found is not None:
                found = look(image, np.asarray([found.box_xyxy]), size_wh) or found
        self.carried = found
        return [found] if found is not None else []


def boxes_from_pose_detector(detector, clip: InputClip, *, kpt_thr: float = 0.3, progress: bool = True) -> FrameBoxes:
    """``PoseDetectorBoxes`` over every frame of the clip."""
    follow = PoseDetectorBoxes(detector, kpt_thr=kpt_thr)
    return {k: follow(clip.frame(k), clip.sizes_wh[k]) for k in _frames(clip, progress, "person boxes (2D detector)")}
