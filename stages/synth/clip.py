"""One synthetic test video with ground truth: a subject, an action and one camera, as an mp4.

Why a new clip rather than frames of the synthetic dataset: every time step of a dataset sequence is
seen by the next of the subject's four cameras (stages.synth.motion), so one camera's frames of one
trial are a handful of strided frames, not a video. This clip renders consecutive steps of the same
kind of sequence (the action's mocap, retargeted to the subject's bones, placed by
``sequence_motion``) through one of the subject's cameras, which are the dataset's own cameras for
the same seed, with the subject's own look over one fixed background, as a video camera would film
it.

Ground truth goes beside the video in mmpose's Human3.6M annotation layout, one row per video frame
(``<stem>.gt.npz``: imgname, center, scale, part, S in camera-frame metres), which the ``video``
frame source reads into the feature store (``gt3d`` and the subject/action/camera tables), so the
store of the clip can be evaluated like any Human3.6M store. The annotation's person boxes (mmpose's
Human3.6M box: ``center`` +- ``scale`` * 100 px, what stage one crops the dataset with) are also
written as a boxes JSON of the frame sources (``<stem>.boxes.json``), and the filming camera as
``<stem>.camera.json`` (what ``capf infer`` places people in camera space with).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stages.synth.cameras import H36M_CAMERA_IDS, make_subject_cameras, project, world_to_camera
from stages.synth.motion import ACTION_CLIP, ACTIONS, SequenceSpec, load_clips, sequence_motion
from stages.synth.render import DEFAULT_LOOK, make_appearance, render_frame
from stages.synth.retarget import retarget_to_h36m
from stages.synth.skeleton import subject_bone_lengths
from stages.synth.writer import (DEFAULT_IMAGE_SIZE, _in_view, box_center_scale, default_mocap_dir,
                                 npz_bytes)

GT_SIDECAR_SUFFIX = ".gt.npz"
BOXES_SUFFIX = ".boxes.json"
CAMERA_SUFFIX = ".camera.json"
_CLIP_STREAM = 21  # rng stream of clips, apart from the dataset's (split codes 1, 2)
_TRIES = 32  # sequence draws tried until every frame is in the camera's view


@dataclass(frozen=True)
class SyntheticClip:
    video: Path
    ground_truth: Path
    boxes: Path
    num_frames: int
    fps: float
    subject: str
    action: str
    camera_id: str


def ground_truth_path(video: Path) -> Path:
    """Where a video's ground-truth sidecar lives: ``clip.mp4`` -> ``clip.gt.npz``."""
    return Path(video).with_suffix(GT_SIDECAR_SUFFIX)


def annotated_boxes_path(video: Path) -> Path:
    """Where the annotation's person boxes are: ``clip.mp4`` -> ``clip.boxes.json``."""
    return Path(video).with_suffix(BOXES_SUFFIX)


def camera_path(video: Path) -> Path:
    """Where the filming camera is: ``clip.mp4`` -> ``clip.camera.json`` (one entry of the dataset's
    ``cameras.pkl`` as JSON: ``f``, ``c`` px, ``w``, ``h``, ``R``, ``T`` m, ``k``, ``p``)."""
    return Path(video).with_suffix(CAMERA_SUFFIX)


def camera_json(camera: dict) -> str:
    """One camera of :func:`stages.synth.cameras.make_subject_cameras` as JSON (numbers as lists)."""
    return json.dumps({key: (np.asarray(value, dtype=np.float64).tolist() if key in ("R", "T", "f", "c", "k", "p") else value)
                       for key, value in camera.items()})


def _motion_in_view(subject: str, action: str, camera: dict, n_frames: int, fps: float, seed: int,
                    mocap_dir: Path) -> np.ndarray:
    """(n_frames, 17, 3) camera-frame mm of the first sequence draw that the camera sees whole."""
    lengths = subject_bone_lengths(subject, seed)
    clip_name = ACTION_CLIP[action]
    mocap = load_clips(mocap_dir)[clip_name]
    retargeted = retarget_to_h36m(mocap, lengths)
    stride = max(1, round(1.0 / (mocap.frame_time_s * fps)))  # the mocap at the video's frame rate
    for attempt in range(_TRIES):
        spec = SequenceSpec(index=attempt, subject=subject, action=action, trial=0, n_frames=n_frames,
                            clip=clip_name)
        world = sequence_motion(spec, np.random.default_rng([seed, _CLIP_STREAM, attempt]), retargeted, lengths,
                                stride=stride)
        cam_mm = world_to_camera(world / 1000.0, camera) * 1000.0
        if all(_in_view(frame, camera) for frame in cam_mm):
            return cam_mm
    raise RuntimeError(f"{subject} {action}: no draw of {_TRIES} stays in view of camera {camera['id']}")


def write_synthetic_clip(video: Path, *, subject: str = "S9", action: str = "Walking",
                         camera_id: str = H36M_CAMERA_IDS[0], n_frames: int = 48, fps: float = 25.0,
                         seed: int = 0, image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE,
                         mocap_dir: Path | None = None, progress: bool = False,
                         look: str = DEFAULT_LOOK) -> SyntheticClip:
    """Render the clip to ``video`` (mp4, 'mp4v') and its ground truth to ``<stem>.gt.npz``.

    Deterministic in its arguments; both files are written under temporary names and renamed, the
    sidecar last, so a clip with a sidecar is complete. The default subject S9 is a test subject of
    the demo: the demo's lifter never trained on its bones or look. ``look`` colours the limbs as
    in the dataset (:func:`stages.synth.writer.write_synthetic_h36m`): use the world the models saw.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {ACTIONS}")
    video = Path(video)
    width, height = (int(v) for v in image_size)
    cameras = make_subject_cameras(subject, seed, (width, height))
    if (subject, camera_id) not in cameras:
        raise ValueError(f"unknown camera {camera_id!r}; one of {H36M_CAMERA_IDS}")
    camera = cameras[(subject, camera_id)]
    joints_mm = _motion_in_view(subject, action, camera, n_frames, fps, seed, mocap_dir or default_mocap_dir())
    appearance = make_appearance(subject, seed, look)

    video.parent.mkdir(parents=True, exist_ok=True)
    tmp_video = video.with_name(f".{video.name}.tmp.mp4")
    writer = cv2.VideoWriter(str(tmp_video), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{tmp_video}: opencv cannot write mp4 here")
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_frames, desc=f"render {video.name}", unit="frame")
    try:
        for frame_mm in joints_mm:
            # One background for the whole clip (the same draw every frame), as a fixed camera films.
            image, _ = render_frame(np.random.default_rng([seed, _CLIP_STREAM, 999]), frame_mm, camera["f"][:, 0],
                                    camera["c"][:, 0], width, height, appearance)
            writer.write(image)
            if bar is not None:
                bar.update(1)
    finally:
        writer.release()
        if bar is not None:
            bar.close()

    trial = f"{subject}_{action}.{camera_id}"
    part = project(joints_mm / 1000.0, camera)
    center, scale = box_center_scale(part)
    ones = np.ones((n_frames, 17, 1))
    arrays = {
        "imgname": np.array([f"{subject}/{trial}/{trial}_{k + 1:06d}.jpg" for k in range(n_frames)]),
        "center": center,
        "scale": scale,
        "part": np.concatenate([part, ones], axis=2),
        "S": np.concatenate([joints_mm / 1000.0, ones], axis=2),
    }
    half = scale[:, None] * 100.0
    boxes = {str(k): [round(float(v), 3) for v in (*(c - h), *(c + h))] for k, (c, h) in enumerate(zip(center, half))}
    boxes_path = annotated_boxes_path(video)
    tmp_boxes = boxes_path.with_name(f".{boxes_path.name}.tmp")
    tmp_boxes.write_text(json.dumps(boxes))
    cam_file = camera_path(video)
    tmp_camera = cam_file.with_name(f".{cam_file.name}.tmp")
    tmp_camera.write_text(camera_json(camera))
    sidecar = ground_truth_path(video)
    tmp_sidecar = sidecar.with_name(f".{sidecar.name}.tmp")
    tmp_sidecar.write_bytes(npz_bytes(arrays))
    tmp_video.replace(video)
    tmp_boxes.replace(boxes_path)
    tmp_camera.replace(cam_file)
    tmp_sidecar.replace(sidecar)  # last: a clip with its ground truth is complete
    return SyntheticClip(video, sidecar, boxes_path, n_frames, float(fps), subject, action, camera_id)
