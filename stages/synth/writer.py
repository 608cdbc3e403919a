"""Write a synthetic Human3.6M dataset in mmpose's annotation layout.

Layout of ``out_dir`` (image size ``W x H``, default 500 x 500, Human3.6M's 1000 x 1002 halved):

    S1/S1_Walking.54138969/S1_Walking.54138969_000001.jpg   images (JPEG, quality 90)
    train_h36m_body3d.npz, test_h36m_body3d.npz             imgname, center, scale, part, S
    cameras.pkl                                             {(subject, camera id): R, T, f, c, k, p, w, h, name, id}
    train_coco.json, test_coco.json                         COCO-17 keypoints for a top-down detector
    meta.json                                               parameters, counts; written last

The npz arrays match the real fixture's keys, dtypes and conventions: ``S`` (N, 17, 4) camera-frame
metres + visibility, ``part`` (N, 17, 3) its exact pinhole projection + visibility, a square box
around the joints with ``scale = 1.2 * side / 200`` (mmpose's Human3.6M preprocessing).

Motion (:mod:`stages.synth.motion`): ``<Action>`` trials are 50 fps videos of real mocap filmed by
one fixed camera (frames 1..F consecutive, so MPJVE and temporal windows are meaningful); the test
split holds only these. ``<Action>_1`` trials (train split) are sampled poses, one camera per step.

Look (:data:`stages.synth.render.LOOKS`): ``limbs`` colours every limb apart, warm on the left and
cool on the right; ``clothing`` colours them like clothes, the same on both sides. The look is one of
the parameters: a dataset of another look is never a cache hit. Poses, cameras and backgrounds do not
depend on it, so the two worlds show the same scenes.

Determinism: every random draw comes from ``numpy.random.default_rng`` seeded with (seed, what,
index), never from shared state, so frames can be rendered in any order or process and the same
seed gives byte-identical annotation files and identical images.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cache.atomic import write_bytes_atomic
from stages.synth.cameras import make_subject_cameras, project, world_to_camera
from stages.synth.coco import coco_annotation, coco_categories, h36m_to_coco_3d
from stages.synth.face import HEAD_RADIUS_MM, face_landmarks
from stages.synth.motion import FRAME_RATE_HZ, MOCAP_CLIPS, load_clips, plan_split, sequence_motion, video_clip
from stages.synth.render import DEFAULT_LOOK, LEFT_RIGHT_COLOURS, LOOKS, make_appearance, render_frame
from stages.synth.retarget import retarget_to_h36m
from stages.synth.skeleton import subject_bone_lengths

GENERATOR_VERSION = "capf-synth-h36m-2"  # 2: mocap as 50 fps videos, a test split of videos only
TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
DEFAULT_IMAGE_SIZE = (500, 500)
JPEG_QUALITY = 90
BOX_PADDING = 1.2  # mmpose's Human3.6M boxes: 1.2 x the joints' larger extent
_SPLIT_CODES = {"train": 1, "test": 2}
# Share of each split's frames in continuous mocap videos (the rest: sampled poses). The test split
# holds real motion only, so that MPJVE measures smoothness, not jumps between independent poses.
VIDEO_FRACTION = {"train": 0.5, "test": 1.0}
_SIGNATURE = ".capf_synth"  # marks a folder as written by this generator (complete or not)
_ANNOTATION_FILES = ("train_h36m_body3d.npz", "test_h36m_body3d.npz", "cameras.pkl",
                     "train_coco.json", "test_coco.json")  # fmt: skip


def default_mocap_dir() -> Path:
    """``../shared/data/mocap`` next to the project root (where the real clips live)."""
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "mocap"


@dataclass(frozen=True)
class FrameJob:
    """Everything one worker needs to render and save one image."""

    path: Path
    joints_cam_mm: np.ndarray  # (17, 3)
    focal_px: np.ndarray  # (2,)
    centre_px: np.ndarray  # (2,)
    subject: str
    rng_key: tuple[int, ...]
    look: str = DEFAULT_LOOK


@dataclass
class SplitAnnotations:
    """Per-frame annotations of a split, in the npz's order."""

    imgname: list[str]
    joints_cam_m: list[np.ndarray]  # (17, 3) each
    part_px: list[np.ndarray]  # (17, 2) each
    coco_px: list[np.ndarray]  # (17, 2) each
    jobs: list[FrameJob]
    n_mocap: int = 0
    n_sampled: int = 0
    n_camera_fallbacks: int = 0
    n_videos: int = 0


def _in_view(joints_cam_mm: np.ndarray, camera: dict, margin_frac: float = 0.02) -> bool:
    """Do all joints, and the top of the head sphere, project inside the image with a margin?"""
    if joints_cam_mm[:, 2].min() < 500.0:
        return False
    face = face_landmarks(joints_cam_mm)
    top = face["head_centre"] + HEAD_RADIUS_MM * face["up"]
    uv = project(np.vstack([joints_cam_mm, top]), camera)
    mx, my = margin_frac * camera["w"], margin_frac * camera["h"]
    return bool((uv[:, 0] >= mx).all() and (uv[:, 0] <= camera["w"] - 1 - mx).all()
                and (uv[:, 1] >= my).all() and (uv[:, 1] <= camera["h"] - 1 - my).all())  # fmt: skip


def frame_in_view(world_mm: np.ndarray, cameras: list[dict], first: int) -> tuple[int, np.ndarray, bool]:
    """Pick a camera (preferably ``first``) and pull the body towards the area's centre until it fits.

    Returns (camera index, joints in that camera's frame in mm, whether it fits).
    """
    for attempt in range(len(cameras)):
        k = (first + attempt) % len(cameras)
        for pull in (1.0, 0.6, 0.35, 0.15, 0.0):
            joints = world_mm.copy()
            joints[:, :2] -= (1.0 - pull) * world_mm[0, :2]
            cam_mm = world_to_camera(joints / 1000.0, cameras[k]) * 1000.0
            if _in_view(cam_mm, cameras[k]):
                return k, cam_mm, True
    k = first % len(cameras)
    return k, world_to_camera(world_mm / 1000.0, cameras[k]) * 1000.0, False


def _video_in_view(world_mm: np.ndarray, cameras: list[dict], first: int) -> tuple[int, np.ndarray, bool]:
    """:func:`frame_in_view` for a whole video: one camera and one shift for every frame, so the
    motion stays continuous. ``(F, 17, 3)`` world mm -> (camera index, ``(F, 17, 3)`` camera mm, fits)."""
    centre_xy = world_mm[:, 0, :2].mean(axis=0)
    for attempt in range(len(cameras)):
        k = (first + attempt) % len(cameras)
        for pull in (1.0, 0.6, 0.35, 0.15, 0.0):
            joints = world_mm.copy()
            joints[..., :2] -= (1.0 - pull) * centre_xy
            cam_mm = world_to_camera(joints / 1000.0, cameras[k]) * 1000.0
            if all(_in_view(frame, cameras[k]) for frame in cam_mm):
                return k, cam_mm, True
    k = first % len(cameras)
    return k, world_to_camera(world_mm / 1000.0, cameras[k]) * 1000.0, False


def _plan_split(split: str, subjects: tuple[str, ...], n_frames: int, seed: int, out_dir: Path,
                cameras: dict, clips: dict, retarget_cache: dict, look: str) -> SplitAnnotations:
    code = _SPLIT_CODES[split]
    ann = SplitAnnotations([], [], [], [], [])
    for spec in plan_split(subjects, n_frames, video_fraction=VIDEO_FRACTION[split]):
        lengths = subject_bone_lengths(spec.subject, seed)
        retargeted = None
        if spec.clip is not None:
            key = (spec.clip, spec.subject)
            if key not in retarget_cache:
                clip = clips[spec.clip]
                retarget_cache[key] = video_clip(retarget_to_h36m(clip, lengths), spec.clip, clip.frame_time_s, lengths)
            retargeted = retarget_cache[key]
        world = sequence_motion(spec, np.random.default_rng([seed, code, spec.index]), retargeted, lengths)
        cams = [cameras[key] for key in sorted(cameras) if key[0] == spec.subject]
        if spec.video:
            k, video_mm, ok = _video_in_view(world, cams, spec.index)
            if not ok:
                raise RuntimeError(f"{spec.subject} {spec.action_name}: no camera sees the whole video")
            ann.n_camera_fallbacks += int(k != spec.index % len(cams))
            ann.n_videos += 1
            placed = [(k, frame_mm) for frame_mm in video_mm]
        else:
            placed = []
            for step in range(spec.n_frames):
                k, cam_mm, ok = frame_in_view(world[step], cams, step + spec.index)
                if not ok:
                    raise RuntimeError(f"{spec.subject} {spec.action_name} frame {step}: no camera sees the body")
                ann.n_camera_fallbacks += int(k != (step + spec.index) % len(cams))
                placed.append((k, cam_mm))
        for step, (k, cam_mm) in enumerate(placed):
            cam = cams[k]
            video = f"{spec.subject}_{spec.action_name}.{cam['id']}"
            rel = f"{spec.subject}/{video}/{video}_{step + 1:06d}.jpg"
            ann.imgname.append(rel)
            ann.joints_cam_m.append(cam_mm / 1000.0)
            ann.part_px.append(project(cam_mm / 1000.0, cam))
            ann.coco_px.append(project(h36m_to_coco_3d(cam_mm) / 1000.0, cam))
            ann.jobs.append(FrameJob(out_dir / rel, cam_mm, cam["f"][:, 0], cam["c"][:, 0], spec.subject,
                                     (seed, code, spec.index, step, 11), look))  # fmt: skip
            if spec.clip is None:
                ann.n_sampled += 1
            else:
                ann.n_mocap += 1
    return ann


def _render_job(job: FrameJob, seed: int, image_size: tuple[int, int]) -> tuple[list[float], float]:
    """Render, save, and return the person's pixel box (x, y, w, h) and area from the part labels."""
    image, labels = render_frame(np.random.default_rng(list(job.rng_key)), job.joints_cam_mm, job.focal_px,
                                 job.centre_px, image_size[0], image_size[1],
                                 make_appearance(job.subject, seed, job.look))  # fmt: skip
    job.path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {job.path}")
    job.path.write_bytes(buf.tobytes())
    ys, xs = np.nonzero(labels)
    x0, y0 = float(xs.min()), float(ys.min())
    return [x0, y0, float(xs.max()) - x0 + 1.0, float(ys.max()) - y0 + 1.0], float(xs.size)


def _render_chunk(args: tuple[list[FrameJob], int, tuple[int, int]]) -> list[tuple[list[float], float]]:
    jobs, seed, image_size = args
    return [_render_job(job, seed, image_size) for job in jobs]


def box_center_scale(part_px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """mmpose's Human3.6M box: (N, 17, 2) -> center (N, 2), scale (N,) with side = scale * 200."""
    lo, hi = part_px.min(axis=1), part_px.max(axis=1)
    return (lo + hi) / 2.0, BOX_PADDING * (hi - lo).max(axis=1) / 200.0


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``np.load``-able npz with fixed zip timestamps, so equal arrays give equal bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(value), allow_pickle=False)
    return buf.getvalue()


def _annotation_arrays(ann: SplitAnnotations) -> dict[str, np.ndarray]:
    n = len(ann.imgname)
    part = np.asarray(ann.part_px, dtype=np.float64).reshape(n, 17, 2)
    joints = np.asarray(ann.joints_cam_m, dtype=np.float64).reshape(n, 17, 3)
    center, scale = box_center_scale(part) if n else (np.zeros((0, 2)), np.zeros((0,)))
    ones = np.ones((n, 17, 1))
    return {
        "imgname": np.array(ann.imgname, dtype=str) if n else np.zeros((0,), dtype="<U1"),
        "center": center.astype(np.float64),
        "scale": scale.astype(np.float64),
        "part": np.concatenate([part, ones], axis=2),
        "S": np.concatenate([joints, ones], axis=2),
    }


def _coco_json(ann: SplitAnnotations, boxes: list[tuple[list[float], float]], image_size: tuple[int, int]) -> bytes:
    images, annotations = [], []
    for i, (name, kps, (bbox, area)) in enumerate(zip(ann.imgname, ann.coco_px, boxes), start=1):
        images.append({"id": i, "file_name": name, "width": image_size[0], "height": image_size[1]})
        annotations.append(coco_annotation(i, i, kps, np.asarray(bbox), area))
    doc = {"info": {"description": "CAPF synthetic Human3.6M", "version": GENERATOR_VERSION},
           "categories": coco_categories(), "images": images, "annotations": annotations}  # fmt: skip
    return json.dumps(doc, separators=(",", ":")).encode()


def mocap_digest(mocap_dir: Path) -> str:
    h = hashlib.sha256()
    for name in MOCAP_CLIPS:
        h.update(name.encode())
        h.update((mocap_dir / name).read_bytes())
    return h.hexdigest()[:16]


def _prepare_out_dir(out_dir: Path, params: dict) -> None:
    """Remove a previous (different or interrupted) synthetic dataset; refuse to touch foreign data."""
    out_dir.mkdir(parents=True, exist_ok=True)
    meta_path, signature = out_dir / "meta.json", out_dir / _SIGNATURE
    subject_dirs = [out_dir / s for s in TRAIN_SUBJECTS + TEST_SUBJECTS if (out_dir / s).exists()]
    if subject_dirs and not signature.exists():
        raise FileExistsError(f"{out_dir} holds subject folders that this generator did not write; "
                              "choose an empty or synthetic-only directory")  # fmt: skip
    if meta_path.exists():
        meta_path.unlink()  # from here on, an interruption leaves no meta.json: never a false cache hit
    for d in subject_dirs:
        shutil.rmtree(d)
    for name in _ANNOTATION_FILES:
        (out_dir / name).unlink(missing_ok=True)
    signature.write_text(GENERATOR_VERSION + "\n")


def params_with_look(params: dict | None) -> dict | None:
    """A meta's parameters with its look; one written before looks existed is the ``limbs`` look
    (its images are byte-identical to that look's), so an existing dataset stays a cache hit."""
    return None if params is None else {"look": "limbs", **params}


def dataset_look(meta: dict) -> str:
    """The look of a synthetic dataset from its ``meta.json`` (``limbs`` before looks existed)."""
    return params_with_look(meta["params"])["look"]


def write_synthetic_h36m(out_dir: Path, *, n_train: int, n_test: int, seed: int = 0,
                         image_size: tuple[int, int] = DEFAULT_IMAGE_SIZE, progress: bool = True,
                         workers: int = 1, mocap_dir: Path | None = None, look: str = DEFAULT_LOOK) -> dict:
    """Render the synthetic dataset into ``out_dir`` (see the module docstring); return its meta.

    A ``meta.json`` with the same parameters means the dataset is complete: nothing is redone
    (cache hit). ``meta.json`` is written last, so an interrupted run never looks complete.

    Args:
        n_train, n_test: number of frames of the train (S1, S5, S6, S7, S8) and test (S9, S11) split.
        image_size: (W, H) pixels; the focal length scales with W (1145 px at W = 1000).
        workers: processes rendering images (the result does not depend on it).
        mocap_dir: folder with the BVH clips (default ``../shared/data/mocap``).
        look: how the limbs are coloured, ``limbs`` (per limb, left warm, right cool) or
            ``clothing`` (shirt, pants and skin, the same on both sides); recorded in the meta.
    """
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; one of {', '.join(LOOKS)}")
    out_dir = Path(out_dir)
    mocap_dir = Path(mocap_dir) if mocap_dir is not None else default_mocap_dir()
    image_size = (int(image_size[0]), int(image_size[1]))
    params = {"generator": GENERATOR_VERSION, "seed": int(seed), "n_train": int(n_train), "n_test": int(n_test),
              "image_size": list(image_size), "jpeg_quality": JPEG_QUALITY, "mocap_sha256": mocap_digest(mocap_dir), "look": look}  # fmt: skip
    meta_path = out_dir / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if params_with_look(meta.get("params")) == params:
            return meta
    _prepare_out_dir(out_dir, params)
    started = time.perf_counter()

    cameras: dict[tuple[str, str], dict] = {}
    for subject in TRAIN_SUBJECTS + TEST_SUBJECTS:
        cameras.update(make_subject_cameras(subject, seed, image_size))
    clips = load_clips(mocap_dir)
    retarget_cache: dict = {}
    splits = {
        "train": _plan_split("train", TRAIN_SUBJECTS, n_train, seed, out_dir, cameras, clips, retarget_cache, look),
        "test": _plan_split("test", TEST_SUBJECTS, n_test, seed, out_dir, cameras, clips, retarget_cache, look),
    }
    boxes = {split: render_all(ann.jobs, seed, image_size, progress, workers, split) for split, ann in splits.items()}
    render_s = time.perf_counter() - started

    for split, ann in splits.items():
        write_bytes_atomic(out_dir / f"{split}_h36m_body3d.npz", npz_bytes(_annotation_arrays(ann)))
        write_bytes_atomic(out_dir / f"{split}_coco.json", _coco_json(ann, boxes[split], image_size))
    write_bytes_atomic(out_dir / "cameras.pkl", pickle.dumps(cameras, protocol=4))

    meta = {
        "generator": GENERATOR_VERSION,
        "params": params,
        "look": look,
        "image_size": list(image_size),
        "subjects": {"train": list(TRAIN_SUBJECTS), "test": list(TEST_SUBJECTS)},
        "counts": {split: {"frames": len(ann.imgname), "mocap_frames": ann.n_mocap, "sampled_frames": ann.n_sampled,
                           "videos": ann.n_videos, "camera_fallbacks": ann.n_camera_fallbacks}
                   for split, ann in splits.items()},  # fmt: skip
        "frame_rate_hz": FRAME_RATE_HZ,
        "files": {"images": "<subject>/<subject>_<action>.<camera>/<subject>_<action>.<camera>_<frame:06d>.jpg",
                  "annotations": list(_ANNOTATION_FILES)},  # fmt: skip
        "conventions": {"videos": "<Action> trials: real-time mocap at frame_rate_hz, one fixed camera, frames 1..F",
                        "sampled": "<Action>_1 trials: sampled poses, cameras cycling per step (not videos)",
                        "S": "camera frame, metres, H36M-17 order", "part": "pixels, exact pinhole projection of S",
                        "scale": "box side / 200, side = 1.2 x joint extent", "coco_file_name": "relative to out_dir",
                        "left_right_colours": LEFT_RIGHT_COLOURS[look]},  # fmt: skip
    }
    write_bytes_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    if progress:
        n = n_train + n_test
        print(f"synthetic H36M: {n} frames in {render_s:.1f} s ({n / max(render_s, 1e-9):.1f} frames/s) -> {out_dir}")
    return meta


def render_all(jobs: list, seed: int, image_size: tuple[int, int], progress: bool, workers: int,
                desc: str, render_chunk=_render_chunk) -> list:
    """Render jobs in order (optionally over processes, in chunks); results keep the jobs' order.
    render_chunk: a module-level function of (jobs, seed, image_size) -> results (picklable)."""
    chunk = max(1, min(32, -(-len(jobs) // (4 * max(workers, 1)))))
    chunks = [(jobs[i : i + chunk], seed, image_size) for i in range(0, len(jobs), chunk)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=f"render {desc}", unit="frame")
    out: list[tuple[list[float], float]] = []
    if workers > 1 and len(chunks) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(render_chunk, chunks):
                out.extend(result)
                if bar is not None:
                    bar.update(len(result))
    else:
        for c in chunks:
            result = render_chunk(c)
            out.extend(result)
            if bar is not None:
                bar.update(len(result))
    if bar is not None:
        bar.close()
    return out
