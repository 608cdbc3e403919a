"""Write a synthetic MPI-INF-3DHP in the on-disk layouts users have: mmpose's and the official one.

Layout of ``out_dir`` (sizes are the real ones times ``image_scale``, default 0.25):

    mpi_inf_3dhp/S<s>/Seq<q>/...                          official training set (stages.synth.mpi3dhp_train)
    mpi_inf_3dhp_test_set/TS<n>/annot_data.mat            official test set (MATLAB v7.3 via h5py, see matfile)
    mpi_inf_3dhp_test_set/TS<n>/imageSequence/img_<row+1:06d>.jpg   every frame, valid or not
    images/S<s>_Seq<q>_Cam<c>_<frame:06d>.jpg             mmpose layout: train frames
    images/TS<n>_<row+1:06d>.jpg                          mmpose layout: valid test frames (hard links)
    annotations/mpi_inf_3dhp_train.npz, mpi_inf_3dhp_test_valid.npz, cameras_train.pkl, cameras_test.pkl
    meta.json                                             parameters and counts; written last

The annotation files follow mmpose's converter (`preprocess_mpi_inf_3dhp.py`) and the test set's
release: 3DHP's 17-joint order, npz `S` in metres (annot3 / 1000) with an in-image flag, `part` in
pixels, center/scale from the 2D joints (1.2 x extent / 200), train cameras keyed
'S<s>_Seq<q>_Cam<c>' with R, T world -> camera (T in metres, 3DHP's calibration convention), test
cameras keyed 'TS<n>' with f, c only. The `.mat` holds valid_frame, annot2, annot3, univ_annot3 and
activity_annotation in MATLAB's dimension order (`2 x 17 x 1 x N` ...).

Where the synthetic world departs from the real one (say it when quoting numbers):
- bodies are the renderer's shaded capsules, not people; TS1-2 backdrops are flat chroma green,
  TS3-4 random clutter, TS5-6 clutter under a sky gradient; train Seq1 green, Seq2 clutter (the
  real train set is all green screen, which methods augment with masks);
- activities are pose-sampler modes (and three mocap clips) chosen per activity, not the recorded ones;
- `univ_annot3` re-lays the same bone directions with one fixed "universal" set of bone lengths
  (the mean of the measured Human3.6M subjects), as the real one re-targets to a universal skeleton;
- ~15 % of test frames are marked invalid at random (the real ones are frames with unreliable labels);
- the test cameras use the official calibration table (stages.extract.sources.mpi_inf_3dhp.common)
  scaled to the image size; no lens distortion; `bb_crop` (undocumented) is not written.
Deterministic from the seed, like the Human3.6M writer; ``look`` colours the limbs as there
(``limbs`` or ``clothing``, :mod:`stages.synth.render`).
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cache.atomic import write_bytes_atomic
from stages.common.joint_sets import MPI3DHP_AUTHORS_TRAIN_CAMERAS
from stages.extract.sources.mpi_inf_3dhp.common import OUTDOOR_TEST_CAMERA, STUDIO_TEST_CAMERA, TestCamera
from stages.lift.joints import h36m17_to_mpi3dhp17
from stages.synth.cameras import look_at_rotation, project
from stages.synth.matfile import write_mat73
from stages.synth.mpi3dhp_train import (TRAIN_DIR, calibration_text, image_name, plan_views, write_annotation,
                                        write_video)
from stages.synth.motion import FAST_CLIP, SIT_CLIP, WALK_CLIP, SequenceSpec, load_clips, sequence_motion
from stages.synth.render import (DEFAULT_LOOK, LEFT_RIGHT_COLOURS, LOOKS, make_appearance, render_background,
                                 render_frame)
from stages.synth.retarget import retarget_to_h36m
from stages.synth.skeleton import MEASURED_BONE_LENGTHS_MM, assemble, bone_directions, subject_bone_lengths
from stages.synth.writer import (JPEG_QUALITY, box_center_scale, default_mocap_dir, frame_in_view, mocap_digest,
                                 npz_bytes, params_with_look, render_all)

GENERATOR_VERSION = "capf-synth-3dhp-1"
TRAIN_SUBJECTS: tuple[int, ...] = tuple(range(1, 9))
TRAIN_SEQUENCES: tuple[int, ...] = (1, 2)
TRAIN_CAMERAS: tuple[int, ...] = MPI3DHP_AUTHORS_TRAIN_CAMERAS  # the 8 of 14 that mmpose's converter and the authors use
TEST_SEQUENCES: tuple[int, ...] = (1, 2, 3, 4, 5, 6)
DEFAULT_IMAGE_SCALE = 0.25
TEST_SET_DIR = "mpi_inf_3dhp_test_set"
INVALID_FRACTION = 0.15
BLOCK_FRAMES = 8  # frames per activity block of a sequence
TRAIN_FOCAL_PX_AT_2048 = 1500.0  # the real train cameras: f ~ 1495-1498 px at 2048 x 2048
UNIVERSAL_BONE_LENGTHS_MM = np.mean(np.asarray(list(MEASURED_BONE_LENGTHS_MM.values()), np.float64), axis=0)
_SIGNATURE = ".capf_synth_3dhp"
_OUTPUTS = ("images", "annotations", TEST_SET_DIR, TRAIN_DIR)

# Pose-sampler modes (and a mocap clip where one fits) per 3DHP activity code.
ACTIVITY_MODES: dict[int, tuple[str, ...]] = {
    1: ("stand", "walk"), 2: ("reach", "bend", "gesture"), 3: ("sit_chair", "eat"),
    4: ("reach", "crouch", "bend"), 5: ("sit_floor", "kneel"), 6: ("walk", "reach", "crouch", "gesture"),
    7: ("phone", "photo", "gesture"),
}
ACTIVITY_CLIP: dict[int, str] = {1: WALK_CLIP, 3: SIT_CLIP, 6: FAST_CLIP}


@dataclass(frozen=True)
class Mpi3dhpJob:
    """One image to render: where, the body in the camera frame (H36M order), the camera, the look."""

    path: Path
    joints_cam_mm: np.ndarray  # (17, 3)
    focal_px: np.ndarray  # (2,)
    centre_px: np.ndarray  # (2,)
    size_wh: tuple[int, int]
    body: str  # whose bone lengths and appearance
    backdrop: str  # "green" | "clutter" | "outdoor"
    rng_key: tuple[int, ...]
    look: str = DEFAULT_LOOK  # the renderer's limb colouring


@dataclass
class Sequence3dhp:
    """The frames of one sequence (train S<s>/Seq<q> or test TS<n>), 3DHP joint order."""

    name: str
    annot3_mm: list[np.ndarray] = field(default_factory=list)  # (17, 3) each
    univ_annot3_mm: list[np.ndarray] = field(default_factory=list)
    annot2_px: list[np.ndarray] = field(default_factory=list)  # (17, 2) each
    activity: list[int] = field(default_factory=list)
    camera_key: list[str] = field(default_factory=list)
    frame_number: list[int] = field(default_factory=list)
    jobs: list[Mpi3dhpJob] = field(default_factory=list)


def scaled_size(size_wh: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(16, round(size_wh[0] * scale)), max(16, round(size_wh[1] * scale))


def _camera(rng: np.random.Generator, focal_px: tuple[float, float], centre_px: tuple[float, float],
            size_wh: tuple[int, int], azimuth: float, distance_m: tuple[float, float],
            height_m: tuple[float, float], name: str) -> dict:
    """A camera dict in the synth's convention (X_cam = R.T (X - T), T = centre in metres, z up)."""
    d = rng.uniform(*distance_m)
    centre = np.array([d * np.cos(azimuth), d * np.sin(azimuth), rng.uniform(*height_m)])
    target = np.array([rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.1)])
    return {"R": look_at_rotation(centre, target), "T": centre.reshape(3, 1),
            "f": np.asarray(focal_px, np.float64).reshape(2, 1), "c": np.asarray(centre_px, np.float64).reshape(2, 1),
            "w": int(size_wh[0]), "h": int(size_wh[1]), "name": name}


def train_cameras(subject: int, sequence: int, seed: int, scale: float) -> dict[str, dict]:
    """The 8 studio cameras of one train sequence, around the capture area (8 azimuths)."""
    size = scaled_size((2048, 2048), scale)
    rng = np.random.default_rng([seed, 31, subject, sequence])
    cams = {}
    for k, cam in enumerate(TRAIN_CAMERAS):
        focal = TRAIN_FOCAL_PX_AT_2048 * size[0] / 2048 * rng.uniform(0.995, 1.005, size=2)
        centre = np.array(size, np.float64) / 2 + rng.uniform(-0.01, 0.01, size=2) * size[0]
        cams[f"S{subject}_Seq{sequence}_Cam{cam}"] = _camera(
            rng, tuple(focal), tuple(centre), size, k * np.pi / 4 + rng.uniform(-0.2, 0.2), (3.5, 5.0),
            (0.3, 2.5), f"train_cam_{cam}")
    return cams


def studio_cameras(subject: int, sequence: int, seed: int, scale: float) -> dict[int, dict]:
    """All 14 studio cameras of one train sequence: the 8 of :func:`train_cameras` and 6 more
    (3, 9-13: labelled and calibrated in the official layout, never rendered)."""
    size = scaled_size((2048, 2048), scale)
    cams = {int(key.rsplit("Cam", 1)[1]): cam for key, cam in train_cameras(subject, sequence, seed, scale).items()}
    rng = np.random.default_rng([seed, 36, subject, sequence])
    for k, number in enumerate(n for n in range(14) if n not in cams):
        focal = TRAIN_FOCAL_PX_AT_2048 * size[0] / 2048 * rng.uniform(0.995, 1.005, size=2)
        centre = np.array(size, np.float64) / 2 + rng.uniform(-0.01, 0.01, size=2) * size[0]
        cams[number] = _camera(rng, tuple(focal), tuple(centre), size, k * np.pi / 3 + np.pi / 8, (3.5, 5.0),
                               (0.3, 2.5), f"train_cam_{number}")
    return dict(sorted(cams.items()))


def _plan_official_train(out_dir: Path, seq: Sequence3dhp, subject: int, sequence: int, seed: int, scale: float,
                         look: str) -> tuple[dict, dict, list[Mpi3dhpJob]]:
    """The official layout of one train sequence: every step in every studio camera (labels for all
    14, render jobs for the authors' 8). Returns (cameras, views, jobs)."""
    cameras = studio_cameras(subject, sequence, seed, scale)
    chosen = [cameras[int(key.rsplit("Cam", 1)[1])] for key in seq.camera_key]
    universal = lambda body: assemble(body[None, 0], bone_directions(body[None]),  # noqa: E731
                                      UNIVERSAL_BONE_LENGTHS_MM)[0]
    views = plan_views([job.joints_cam_mm for job in seq.jobs], chosen, cameras, universal)
    body, backdrop = seq.jobs[0].body, seq.jobs[0].backdrop
    jobs = [Mpi3dhpJob(out_dir / TRAIN_DIR / "images" / image_name(subject, sequence, number, step),
                       views[number]["h36m_mm"][step], cam["f"][:, 0], cam["c"][:, 0], (cam["w"], cam["h"]), body,
                       backdrop, (seed, 37, subject, sequence, number, step), look)
            for number, cam in cameras.items() if number in TRAIN_CAMERAS for step in range(len(seq.jobs))]
    return cameras, views, jobs


def _write_official_train(out_dir: Path, planned: list[tuple[int, int, dict, dict]]) -> list[str]:
    """annot.mat, camera.calibration and one .avi per rendered camera of each planned sequence
    (the JPEGs are already rendered). Returns the annotation paths relative to ``out_dir``."""
    written = []
    for subject, sequence, cameras, views in planned:
        folder = out_dir / TRAIN_DIR / f"S{subject}" / f"Seq{sequence}"
        frames = len(next(iter(views.values()))["annot3"])
        write_annotation(folder / "annot.mat", frames, views)
        write_bytes_atomic(folder / "camera.calibration", calibration_text(cameras).encode())
        for number in TRAIN_CAMERAS:
            cam = cameras[number]
            images = [out_dir / TRAIN_DIR / "images" / image_name(subject, sequence, number, step)
                      for step in range(frames)]
            write_video(folder / "imageSequence" / f"video_{number}.avi", images, (cam["w"], cam["h"]))
        written.append((folder / "annot.mat").relative_to(out_dir).as_posix())
    return written


def test_camera(sequence: int, seed: int, scale: float) -> dict:
    """The one camera of a test sequence: the official calibration (scaled), placed in front."""
    calib: TestCamera = STUDIO_TEST_CAMERA if sequence <= 4 else OUTDOOR_TEST_CAMERA
    size = scaled_size(calib.size_px, scale)
    fx, fy, cx, cy = calib.intrinsics_px(size)
    rng = np.random.default_rng([seed, 32, sequence])
    distance = (3.5, 4.5) if sequence <= 4 else (4.5, 6.0)
    return _camera(rng, (fx, fy), (cx, cy), size, rng.uniform(0, 2 * np.pi), distance, (0.9, 1.6),
                   f"test_cam_{sequence}")


def _backdrop_image(kind: str, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(H, W, 3) float32 BGR: chroma green (studio), random clutter, or clutter under a sky."""
    if kind == "green":
        shade = np.linspace(0.85, 1.1, height, dtype=np.float32)[:, None, None]
        green = np.array([50.0, 175.0, 60.0], np.float32) * rng.uniform(0.85, 1.1)
        return np.clip(green * shade + rng.normal(0, 4, size=(height, width, 3)).astype(np.float32), 0, 255)
    image = render_background(rng, width, height)
    if kind == "outdoor":
        sky = np.linspace(1.0, 0.0, height, dtype=np.float32)[:, None, None] ** 2
        image = image * (1 - 0.6 * sky) + np.array([235.0, 200.0, 150.0], np.float32) * 0.6 * sky
    return image.astype(np.float32)


def _render_job(job: Mpi3dhpJob, seed: int) -> list[float]:
    rng = np.random.default_rng(list(job.rng_key))
    width, height = job.size_wh
    backdrop = _backdrop_image(job.backdrop, rng, width, height)
    image, _ = render_frame(rng, job.joints_cam_mm, job.focal_px, job.centre_px, width, height,
                            make_appearance(job.body, seed, job.look), background=backdrop)
    job.path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"JPEG encoding failed for {job.path}")
    job.path.write_bytes(buf.tobytes())
    return [float(width), float(height)]


def _render_chunk(args: tuple[list[Mpi3dhpJob], int, tuple[int, int]]) -> list[list[float]]:
    jobs, seed, _ = args
    return [_render_job(job, seed) for job in jobs]


def _activity_blocks(n_frames: int, first_activity: int) -> list[tuple[int, int]]:
    """(activity code, frames) blocks of BLOCK_FRAMES covering n_frames, cycling through 1..7."""
    blocks, start, k = [], 0, 0
    while start < n_frames:
        count = min(BLOCK_FRAMES, n_frames - start)
        blocks.append(((first_activity - 1 + k) % 7 + 1, count))
        start, k = start + count, k + 1
    return blocks


def _split_counts(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _plan_sequence(seq: Sequence3dhp, index: int, n_frames: int, body: str, cameras: list[tuple[str, dict]],
                   backdrop: str, folder: Path, name_of, seed: int, clips: dict, retarget_cache: dict,
                   look: str) -> None:
    """Fill `seq` with n_frames: activity blocks of world motion, each time step seen by one camera."""
    lengths = subject_bone_lengths(body, seed)
    step = 0
    for b, (activity, count) in enumerate(_activity_blocks(n_frames, index % 7 + 1)):
        clip = ACTIVITY_CLIP.get(activity)
        retargeted = None
        if clip is not None:
            if (clip, body) not in retarget_cache:
                retarget_cache[(clip, body)] = retarget_to_h36m(clips[clip], lengths)
            retargeted = retarget_cache[(clip, body)]
        spec = SequenceSpec(index * 1000 + b, body, f"activity{activity}", 0, count, clip)
        rng = np.random.default_rng([seed, 33, index, b])
        world = sequence_motion(spec, rng, retargeted, lengths, modes=ACTIVITY_MODES[activity])
        for t in range(count):
            first = (step + index) % len(cameras)
            k, cam_mm, ok = frame_in_view(world[t], [cam for _, cam in cameras], first)
            if not ok:
                raise RuntimeError(f"{seq.name} frame {step}: no camera sees the body")
            key, cam = cameras[k]
            univ_mm = assemble(cam_mm[None, 0], bone_directions(cam_mm[None]), UNIVERSAL_BONE_LENGTHS_MM)[0]
            seq.annot3_mm.append(h36m17_to_mpi3dhp17(cam_mm))
            seq.univ_annot3_mm.append(h36m17_to_mpi3dhp17(univ_mm))
            seq.annot2_px.append(h36m17_to_mpi3dhp17(project(cam_mm / 1000.0, cam)))
            seq.activity.append(activity)
            seq.camera_key.append(key)
            seq.frame_number.append(step + 1)
            seq.jobs.append(Mpi3dhpJob(folder / name_of(key, step + 1), cam_mm, cam["f"][:, 0], cam["c"][:, 0],
                                       (cam["w"], cam["h"]), body, backdrop, (seed, 34, index, step), look))
            step += 1


def _mmpose_arrays(seq_list: list[Sequence3dhp], names: list[str], rows: list[np.ndarray],
                   sizes: dict[str, tuple[int, int]]) -> dict[str, np.ndarray]:
    """mmpose's npz arrays for the chosen rows of each sequence (3DHP order, S in metres)."""
    part = np.concatenate([np.asarray(s.annot2_px).reshape(-1, 17, 2)[r] for s, r in zip(seq_list, rows)])
    joints = np.concatenate([np.asarray(s.annot3_mm).reshape(-1, 17, 3)[r] for s, r in zip(seq_list, rows)]) / 1000
    keys = [k for s, r in zip(seq_list, rows) for k in np.asarray(s.camera_key)[r]]
    wh = np.array([sizes[k] for k in keys], np.float64)
    visible = ((part >= 0) & (part < wh[:, None, :])).all(axis=-1, keepdims=True).astype(np.float64)
    center, scale = box_center_scale(part)
    return {"imgname": np.array(names), "center": center, "scale": scale,
            "part": np.concatenate([part, visible], axis=2), "S": np.concatenate([joints, visible], axis=2)}


def _world_to_camera_extrinsics(cam: dict) -> dict:
    """3DHP's calibration convention for cameras_train.pkl: X_cam = R X_world + T, T in metres."""
    rotation = cam["R"].T
    return {"R": rotation, "T": -rotation @ cam["T"], "c": cam["c"], "f": cam["f"], "w": cam["w"], "h": cam["h"],
            "name": cam["name"]}


def _prepare_out_dir(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    present = [out_dir / name for name in _OUTPUTS if (out_dir / name).exists()]
    if present and not (out_dir / _SIGNATURE).exists():
        raise FileExistsError(f"{present[0]} was not written by this generator; choose an empty or "
                              "synthetic-only directory")
    (out_dir / "meta.json").unlink(missing_ok=True)  # an interrupted run never looks complete
    for path in present:
        shutil.rmtree(path)
    (out_dir / _SIGNATURE).write_text(GENERATOR_VERSION + "\n")


def _link_or_copy(source: Path, target: Path) -> None:
    """mmpose's converter copies the test images; a hard link holds the same bytes for free."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def write_synthetic_3dhp(out_dir: Path, *, n_train: int, n_test: int, seed: int = 0,
                         image_scale: float = DEFAULT_IMAGE_SCALE, progress: bool = True, workers: int = 1,
                         mocap_dir: Path | None = None, look: str = DEFAULT_LOOK, official_train: bool = True) -> dict:
    """Render the synthetic 3DHP into ``out_dir`` in both layouts (module docstring); return its meta.

    n_train: frames over the 16 train sequences (S1-S8 x Seq1-2, 8 cameras); n_test: frames over
    TS1-TS6, valid or not (about 85 % are valid). A ``meta.json`` with the same parameters means the
    dataset is complete and nothing is redone; it is written last. look: how the limbs are
    coloured (``limbs`` | ``clothing``); another look is never a cache hit. official_train: also the
    official training layout (:mod:`stages.synth.mpi3dhp_train`): each train step in all 8 rendered
    cameras, 8x the train renders.
    """
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; one of {', '.join(LOOKS)}")
    out_dir = Path(out_dir)
    mocap_dir = Path(mocap_dir) if mocap_dir is not None else default_mocap_dir()
    params = {"generator": GENERATOR_VERSION, "seed": int(seed), "n_train": int(n_train), "n_test": int(n_test),
              "image_scale": float(image_scale), "jpeg_quality": JPEG_QUALITY, "mocap_sha256": mocap_digest(mocap_dir), "look": look}
    if official_train:
        params["official_train"] = True  # absent otherwise: datasets written before it stay cache hits
    meta_path = out_dir / "meta.json"
    if meta_path.exists() and params_with_look(json.loads(meta_path.read_text()).get("params")) == params:
        return json.loads(meta_path.read_text())
    if n_test < len(TEST_SEQUENCES):
        raise ValueError(f"n_test must be at least {len(TEST_SEQUENCES)} (one frame per test sequence)")
    _prepare_out_dir(out_dir)
    started = time.perf_counter()
    clips, retarget_cache = load_clips(mocap_dir), {}

    train, train_cams = [], {}
    pairs = [(s, q) for s in TRAIN_SUBJECTS for q in TRAIN_SEQUENCES]
    for i, ((subject, sequence), count) in enumerate(zip(pairs, _split_counts(n_train, len(pairs)))):
        cams = train_cameras(subject, sequence, seed, image_scale)
        train_cams.update(cams)
        seq = Sequence3dhp(f"S{subject}_Seq{sequence}")
        if count:
            _plan_sequence(seq, i, count, f"S{subject}", list(cams.items()), "green" if sequence == 1 else "clutter",
                           out_dir / "images", lambda key, frame: f"{key}_{frame:06d}.jpg", seed, clips, retarget_cache,
                           look)
        train.append(seq)

    test, test_cams = [], {}
    for n, count in zip(TEST_SEQUENCES, _split_counts(n_test, len(TEST_SEQUENCES))):
        cam = test_camera(n, seed, image_scale)
        test_cams[f"TS{n}"] = cam
        seq = Sequence3dhp(f"TS{n}")
        folder = out_dir / TEST_SET_DIR / f"TS{n}" / "imageSequence"
        backdrop = ("green", "clutter", "outdoor")[(n - 1) // 2]
        _plan_sequence(seq, 100 + n, count, f"S{20 + n}", [(f"TS{n}", cam)], backdrop, folder,
                       lambda key, frame: f"img_{frame:06d}.jpg", seed, clips, retarget_cache, look)
        test.append(seq)

    jobs = [job for seq in train + test for job in seq.jobs]
    planned, official_jobs = [], []
    if official_train:
        for (subject, sequence), seq in zip(pairs, train):
            if seq.jobs:
                cameras, views, seq_jobs = _plan_official_train(out_dir, seq, subject, sequence, seed, image_scale, look)
                planned.append((subject, sequence, cameras, views))
                official_jobs += seq_jobs
    jobs += official_jobs
    render_all(jobs, seed, (0, 0), progress, workers, "3dhp", render_chunk=_render_chunk)
    official_annotations = _write_official_train(out_dir, planned)
    render_s = time.perf_counter() - started

    valid = [np.random.default_rng([seed, 35, i]).random(len(seq.jobs)) >= INVALID_FRACTION for i, seq in enumerate(test)]
    for flags in valid:
        flags[0] = True  # every sequence keeps at least one valid frame
    for seq, flags in zip(test, valid):
        n = len(seq.jobs)
        write_mat73(out_dir / TEST_SET_DIR / seq.name / "annot_data.mat", {
            "valid_frame": flags.astype(np.float64)[None, :],  # MATLAB 1 x N
            "annot2": np.asarray(seq.annot2_px).transpose(2, 1, 0)[:, :, None, :],  # 2 x 17 x 1 x N
            "annot3": np.asarray(seq.annot3_mm).transpose(2, 1, 0)[:, :, None, :],  # 3 x 17 x 1 x N
            "univ_annot3": np.asarray(seq.univ_annot3_mm).transpose(2, 1, 0)[:, :, None, :],
            "activity_annotation": np.asarray(seq.activity, np.float64).reshape(1, n),
        })
        for row in np.flatnonzero(flags):
            _link_or_copy(seq.jobs[row].path, out_dir / "images" / f"{seq.name}_{row + 1:06d}.jpg")

    (out_dir / "annotations").mkdir(exist_ok=True)
    sizes = {k: (c["w"], c["h"]) for k, c in {**train_cams, **test_cams}.items()}
    train_rows = [np.arange(len(s.jobs)) for s in train]
    train_names = [f"{k}_{f:06d}.jpg" for s in train for k, f in zip(s.camera_key, s.frame_number)]
    test_rows = [np.flatnonzero(flags) for flags in valid]
    test_names = [f"{s.name}_{r + 1:06d}.jpg" for s, rows in zip(test, test_rows) for r in rows]
    write_bytes_atomic(out_dir / "annotations" / "mpi_inf_3dhp_train.npz",
                       npz_bytes(_mmpose_arrays(train, train_names, train_rows, sizes)))
    write_bytes_atomic(out_dir / "annotations" / "mpi_inf_3dhp_test_valid.npz",
                       npz_bytes(_mmpose_arrays(test, test_names, test_rows, sizes)))
    write_bytes_atomic(out_dir / "annotations" / "cameras_train.pkl",
                       pickle.dumps({k: _world_to_camera_extrinsics(c) for k, c in train_cams.items()}, protocol=4))
    write_bytes_atomic(out_dir / "annotations" / "cameras_test.pkl", pickle.dumps(
        {k: {"c": c["c"], "f": c["f"], "w": c["w"], "h": c["h"], "name": c["name"]} for k, c in test_cams.items()},
        protocol=4))

    meta = {
        "generator": GENERATOR_VERSION,
        "params": params,
        "look": look,
        "counts": {"train_frames": len(train_names), "test_frames": int(sum(len(s.jobs) for s in test)),
                   "test_valid_frames": len(test_names),
                   "per_test_sequence": {s.name: {"frames": len(s.jobs), "valid": int(f.sum())}
                                         for s, f in zip(test, valid)}},
        "layouts": {"mmpose": {"data_root": ".", "annotation": ["annotations/mpi_inf_3dhp_train.npz",
                                                                 "annotations/mpi_inf_3dhp_test_valid.npz"],
                               "cameras": ["annotations/cameras_train.pkl", "annotations/cameras_test.pkl"],
                               "images": "images", "activities": TEST_SET_DIR},
                    "official": {"data_root": TEST_SET_DIR},
                    **({"official_train": {"data_root": ".", "annotation": official_annotations
                                           + [f"{TEST_SET_DIR}/TS{n}/annot_data.mat" for n in TEST_SEQUENCES]}}
                       if official_train else {})},
        "conventions": {"joints": "3DHP 17-joint test order", "S": "camera frame, metres + in-image flag",
                        "annot3": "camera frame, mm, MATLAB 3 x 17 x 1 x N", "univ_annot3": "universal bone lengths",
                        "left_right_colours": LEFT_RIGHT_COLOURS[look]},
    }
    write_bytes_atomic(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
    if progress:
        total = len(jobs)
        print(f"synthetic 3DHP: {total} frames in {render_s:.1f} s ({total / max(render_s, 1e-9):.1f} frames/s) -> {out_dir}")
    return meta


def describe(meta: dict, out_dir: Path) -> str:
    """One line for the CLI: what was written where."""
    counts = meta["counts"]
    official_train = f", official training set: {TRAIN_DIR}/" if meta["layouts"].get("official_train") else ""
    return (f"synthetic MPI-INF-3DHP: {counts['train_frames']} train + {counts['test_frames']} test frames "
            f"({counts['test_valid_frames']} valid) in {out_dir} (mmpose layout: ., official: {TEST_SET_DIR}/"
            f"{official_train})")
