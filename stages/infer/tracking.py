"""One track per person: greedy IoU matching of each frame's boxes to the previous frame's, with
mmpose's own matcher (``mmpose.apis._track_by_iou``, what its body3d demo uses).

Per frame the ``max_people`` boxes with the highest scores (then the largest) are kept; each is
matched to the unmatched box of the previous frame it overlaps most, if that IoU exceeds
``iou_thr``, and inherits its track id; otherwise it starts a new track. Tracks are numbered from 0
in order of appearance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stages.infer.boxes import Detection, FrameBoxes


@dataclass(frozen=True)
class TrackedBox:
    frame: int
    track: int
    box_xyxy: tuple[float, float, float, float]
    score: float


def _area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def keep_most_confident(detections: list[Detection], max_people: int | None) -> list[Detection]:
    """The ``max_people`` detections of highest score, ties broken by area (all for None)."""
    ranked = sorted(detections, key=lambda d: (-d.score, -_area(d.box_xyxy)))
    return ranked if max_people is None else ranked[:max_people]


def _sample(box, track_id: int = -1):
    """A PoseDataSample holding one box: the structure mmpose's matcher reads."""
    from mmengine.structures import InstanceData
    from mmpose.structures import PoseDataSample

    sample = PoseDataSample()
    sample.pred_instances = InstanceData(bboxes=np.asarray(box, dtype=np.float32)[None])
    sample.set_field(track_id, "track_id")
    return sample


class IouTracker:
    """Track ids frame by frame (the module docstring's matching): ``update`` takes one frame's
    detections and returns its tracked boxes; the state is the previous frame's boxes only, so a
    stream of any length costs constant memory."""

    def __init__(self, *, max_people: int | None = None, iou_thr: float = 0.3):
        self.max_people, self.iou_thr = max_people, iou_thr
        self.previous: list = []
        self.next_id = 0

    def update(self, frame: int, detections: list[Detection]) -> list[TrackedBox]:
        """The frame's tracked boxes ordered by track id."""
        from mmpose.apis import _track_by_iou

        current = []
        previous = self.previous
        for det in keep_most_confident(detections, self.max_people):
            track_id, previous, _ = _track_by_iou(_sample(det.box_xyxy), previous, self.iou_thr)
            if track_id == -1:
                track_id, self.next_id = self.next_id, self.next_id + 1
            current.append(TrackedBox(frame, int(track_id), det.box_xyxy, det.score))
        self.previous = [_sample(t.box_xyxy, t.track) for t in current]
        return sorted(current, key=lambda t: t.track)


def track_boxes(boxes: FrameBoxes, num_frames: int, *, max_people: int | None = None,
                iou_thr: float = 0.3) -> list[TrackedBox]:
    """Tracked boxes of every frame, ordered by frame, then track id."""
    tracker = IouTracker(max_people=max_people, iou_thr=iou_thr)
    return [box for frame in range(num_frames) for box in tracker.update(frame, boxes.get(frame, []))]
