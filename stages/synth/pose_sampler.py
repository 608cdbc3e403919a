"""Random but anatomically limited joint angles -> Human3.6M poses.

Why: three mocap clips cover walking, one fast move and a sit-down; Human3.6M's actions also have
sitting, crouching, phoning, photographing and gesturing. The sampler draws joint angles for such
modes within joint limits, and sequences interpolate between random key poses so consecutive
frames move smoothly (useful to temporal models).

Angles (degrees) per pose, see :data:`PARAMS`. Ball joints (hips, shoulders) use a swing
(elevation away from hanging down, in a plane: 0 = forward, 90 = sideways out) followed by an
axial twist; knees and elbows are hinges in the twisted frame, bending backwards and forwards.
"""

from __future__ import annotations

import numpy as np

from stages.synth.bvh import axis_rotation
from stages.synth.skeleton import (
    REST_DIR_HEAD,
    REST_DIR_NECK_NOSE,
    REST_DIR_RIGHT_SHOULDER,
    REST_DIR_SPINE,
    REST_DIR_THORAX,
    assemble,
    unit,
)

PARAMS: tuple[str, ...] = (
    "root_pitch", "root_roll",
    "low_flex", "low_lat", "low_twist", "up_flex", "up_lat", "up_twist",
    "neck_flex", "neck_lat", "neck_twist",
    "r_clav_elev", "r_clav_protr", "l_clav_elev", "l_clav_protr",
    "r_sho_elev", "r_sho_plane", "r_sho_rot", "r_elbow",
    "l_sho_elev", "l_sho_plane", "l_sho_rot", "l_elbow",
    "r_hip_elev", "r_hip_plane", "r_hip_rot", "r_knee",
    "l_hip_elev", "l_hip_plane", "l_hip_rot", "l_knee",
)  # fmt: skip
_P = {name: i for i, name in enumerate(PARAMS)}

# Ranges (degrees) of a relaxed standing pose; modes override some of them.
_BASE: dict[str, tuple[float, float]] = {
    "root_pitch": (-6, 8), "root_roll": (-5, 5),
    "low_flex": (-5, 15), "low_lat": (-8, 8), "low_twist": (-12, 12),
    "up_flex": (-5, 12), "up_lat": (-8, 8), "up_twist": (-15, 15),
    "neck_flex": (-20, 30), "neck_lat": (-15, 15), "neck_twist": (-50, 50),
    "r_clav_elev": (-5, 15), "r_clav_protr": (-10, 15), "l_clav_elev": (-5, 15), "l_clav_protr": (-10, 15),
    "r_sho_elev": (0, 60), "r_sho_plane": (-20, 90), "r_sho_rot": (-30, 60), "r_elbow": (0, 90),
    "l_sho_elev": (0, 60), "l_sho_plane": (-20, 90), "l_sho_rot": (-30, 60), "l_elbow": (0, 90),
    "r_hip_elev": (0, 20), "r_hip_plane": (-15, 45), "r_hip_rot": (-15, 25), "r_knee": (0, 25),
    "l_hip_elev": (0, 20), "l_hip_plane": (-15, 45), "l_hip_rot": (-15, 25), "l_knee": (0, 25),
}  # fmt: skip


def _both(prefix: str, rng_: tuple[float, float]) -> dict[str, tuple[float, float]]:
    return {f"r_{prefix}": rng_, f"l_{prefix}": rng_}


MODES: dict[str, dict[str, tuple[float, float]]] = {
    "stand": {},
    "gesture": {**_both("sho_elev", (20, 140)), **_both("sho_plane", (-30, 110)), **_both("elbow", (10, 140))},
    "phone": {"r_sho_elev": (75, 95), "r_sho_plane": (-20, 20), "r_sho_rot": (10, 50), "r_elbow": (135, 150),
              "neck_lat": (-25, 5)},
    "photo": {**_both("sho_elev", (60, 110)), **_both("sho_plane", (-10, 30)), **_both("sho_rot", (30, 70)),
              **_both("elbow", (70, 130)), "up_flex": (0, 20)},
    "reach": {**_both("sho_elev", (70, 165)), **_both("sho_plane", (-10, 120)), **_both("elbow", (0, 60))},
    "bend": {"low_flex": (25, 60), "up_flex": (10, 35), **_both("sho_elev", (10, 90)),
             **_both("sho_plane", (-20, 40)), **_both("elbow", (0, 80)), **_both("knee", (0, 40)),
             **_both("hip_elev", (0, 35))},
    "sit_chair": {**_both("hip_elev", (75, 100)), **_both("hip_plane", (-5, 35)), **_both("knee", (65, 115)),
                  "low_flex": (-5, 25), "root_pitch": (-15, 5), **_both("sho_elev", (10, 70)),
                  **_both("elbow", (20, 120))},
    "eat": {**_both("hip_elev", (75, 100)), **_both("hip_plane", (-5, 30)), **_both("knee", (65, 110)),
            "r_sho_elev": (60, 90), "r_sho_plane": (-20, 10), "r_sho_rot": (30, 60), "r_elbow": (120, 140),
            "low_flex": (0, 25), "neck_flex": (0, 35)},
    "sit_floor": {**_both("hip_elev", (55, 95)), **_both("hip_plane", (10, 60)), **_both("hip_rot", (-40, 0)),
                  **_both("knee", (5, 130)), "root_pitch": (-20, 5), "low_flex": (0, 30),
                  **_both("sho_elev", (5, 50)), **_both("elbow", (10, 90))},
    "crouch": {**_both("hip_elev", (95, 130)), **_both("hip_plane", (0, 40)), **_both("knee", (100, 145)),
               "low_flex": (10, 45), "root_pitch": (-5, 25), **_both("sho_elev", (10, 80)),
               **_both("elbow", (10, 110))},
    "kneel": {"r_hip_elev": (0, 20), "r_knee": (80, 100), "l_hip_elev": (75, 100), "l_knee": (75, 100),
              **_both("sho_elev", (10, 90))},
}  # fmt: skip


def sample_params(rng: np.random.Generator, mode: str) -> np.ndarray:
    """One random key pose: (len(PARAMS),) angles in degrees for ``mode``."""
    ranges = {**_BASE, **MODES[mode]}
    lo = np.array([ranges[n][0] for n in PARAMS], dtype=np.float64)
    hi = np.array([ranges[n][1] for n in PARAMS], dtype=np.float64)
    params = rng.uniform(lo, hi)
    if mode == "kneel" and rng.random() < 0.5:  # kneel on either knee
        for part in ("hip_elev", "knee"):
            r, l = _P[f"r_{part}"], _P[f"l_{part}"]
            params[[r, l]] = params[[l, r]]
    return params


def _rot(axis: str, deg: np.ndarray) -> np.ndarray:
    return axis_rotation(axis, np.deg2rad(deg))


def _swing(direction: np.ndarray) -> np.ndarray:
    """(T, 3) unit directions -> (T, 3, 3) shortest rotations taking (0, 0, -1) onto them."""
    down = np.array([0.0, 0.0, -1.0])
    axis = np.cross(down, direction)
    sin = np.linalg.norm(axis, axis=-1)
    cos = direction @ down
    angle = np.arctan2(sin, cos)
    axis = np.where(sin[:, None] > 1e-9, axis / np.maximum(sin, 1e-12)[:, None], np.array([1.0, 0.0, 0.0]))
    k = np.zeros(direction.shape[:-1] + (3, 3))  # Rodrigues' formula
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - np.swapaxes(k, 1, 2)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def _limb(parent_frame: np.ndarray, elev: np.ndarray, plane: np.ndarray, rot: np.ndarray,
          hinge: np.ndarray, side: float, hinge_sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Directions of a two-bone limb; side = +1 right, -1 left; hinge_sign +1 bends forward."""
    e, a = np.deg2rad(elev), np.deg2rad(plane)
    local = np.stack([side * np.sin(e) * np.sin(a), np.sin(e) * np.cos(a), -np.cos(e)], axis=-1)
    frame = parent_frame @ _swing(local) @ _rot("Z", side * rot)
    down = np.array([0.0, 0.0, -1.0])
    upper = frame @ down
    lower = frame @ _rot("X", hinge_sign * hinge) @ down
    return upper, lower


def pose_from_params(params: np.ndarray, yaw_deg: np.ndarray, lengths_mm: np.ndarray) -> np.ndarray:
    """Forward kinematics of sampled angles.

    Args:
        params: (T, len(PARAMS)) angles in degrees.
        yaw_deg: (T,) heading about the vertical (0 = facing +y).
        lengths_mm: (17,) bone lengths.
    Returns:
        (T, 17, 3) joints in mm, pelvis at the origin, Human3.6M world axes (z up).
    """
    q = {name: params[:, i] for name, i in _P.items()}
    root = _rot("Z", yaw_deg) @ _rot("X", -q["root_pitch"]) @ _rot("Y", q["root_roll"])
    lower = root @ _rot("Z", q["low_twist"]) @ _rot("X", -q["low_flex"]) @ _rot("Y", q["low_lat"])
    chest = lower @ _rot("Z", q["up_twist"]) @ _rot("X", -q["up_flex"]) @ _rot("Y", q["up_lat"])
    head = chest @ _rot("Z", q["neck_twist"]) @ _rot("X", -q["neck_flex"]) @ _rot("Y", q["neck_lat"])

    dirs = np.zeros((params.shape[0], 17, 3))
    dirs[:, 1], dirs[:, 4] = root[:, :, 0], -root[:, :, 0]
    dirs[:, 7] = lower @ REST_DIR_SPINE
    dirs[:, 8] = chest @ REST_DIR_THORAX
    dirs[:, 9] = head @ REST_DIR_NECK_NOSE
    dirs[:, 10] = head @ REST_DIR_HEAD
    for side, s, sho, arm in ((1.0, "r", 14, (15, 16)), (-1.0, "l", 11, (12, 13))):
        # Clavicle: elevation lifts the shoulder, protraction brings it forward.
        clav = _rot("Y", -side * q[f"{s}_clav_elev"]) @ _rot("Z", side * q[f"{s}_clav_protr"])
        dirs[:, sho] = unit(chest @ clav @ (REST_DIR_RIGHT_SHOULDER * np.array([side, 1.0, 1.0])))
        dirs[:, arm[0]], dirs[:, arm[1]] = _limb(
            chest, q[f"{s}_sho_elev"], q[f"{s}_sho_plane"], q[f"{s}_sho_rot"], q[f"{s}_elbow"], side, 1.0)
    for side, s, leg in ((1.0, "r", (2, 3)), (-1.0, "l", (5, 6))):
        dirs[:, leg[0]], dirs[:, leg[1]] = _limb(
            root, q[f"{s}_hip_elev"], q[f"{s}_hip_plane"], q[f"{s}_hip_rot"], q[f"{s}_knee"], side, -1.0)
    return assemble(np.zeros((params.shape[0], 3)), dirs, lengths_mm)


def walk_params(phase_rad: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A gait cycle: (T,) phases -> (T, len(PARAMS)) angles; amplitudes drawn once per sequence."""
    n = phase_rad.shape[0]
    params = np.tile(0.5 * np.array([sum(_BASE[p]) for p in PARAMS]), (n, 1))
    params[:, _P["neck_twist"]] = rng.uniform(-30, 30)
    params[:, [_P["r_sho_elev"], _P["l_sho_elev"]]] = 0.0
    hip_amp, arm_amp, knee_amp = rng.uniform(18, 30), rng.uniform(10, 30), rng.uniform(35, 60)
    for s, sign in (("r", 1.0), ("l", -1.0)):
        swing = sign * np.sin(phase_rad)
        # Flexion forward = elevation in the forward plane; extension = elevation in the backward plane.
        params[:, _P[f"{s}_hip_elev"]] = hip_amp * np.abs(swing)
        params[:, _P[f"{s}_hip_plane"]] = np.where(swing >= 0, 5.0, 180.0)
        params[:, _P[f"{s}_knee"]] = knee_amp * np.clip(np.sin(phase_rad * sign + 0.6 * np.pi), 0, None) + 5
        params[:, _P[f"{s}_sho_elev"]] = arm_amp * np.abs(swing)
        params[:, _P[f"{s}_sho_plane"]] = np.where(swing < 0, 0.0, 180.0)
        params[:, _P[f"{s}_elbow"]] = 15 + 20 * np.clip(-swing, 0, None)
        params[:, _P[f"{s}_sho_rot"]] = 10.0
    return params


def sample_sequence(rng: np.random.Generator, modes: tuple[str, ...], n_frames: int,
                    lengths_mm: np.ndarray, key_every: int = 4) -> np.ndarray:
    """A smooth sequence of sampled poses.

    Key poses every ``key_every`` frames (mode drawn from ``modes`` per key), linear interpolation in
    angle space between them; the heading turns slowly. 'walk' keys follow a gait cycle instead.

    Returns:
        (n_frames, 17, 3) joints in mm, pelvis at the origin, Human3.6M world axes.
    """
    n_keys = n_frames // key_every + 2
    t = np.arange(n_frames) / key_every
    key_modes = [modes[int(i)] for i in rng.integers(0, len(modes), size=n_keys)]
    keys = np.stack([sample_params(rng, "stand" if m == "walk" else m) for m in key_modes])
    params = np.stack([np.interp(t, np.arange(n_keys), keys[:, i]) for i in range(len(PARAMS))], axis=1)
    walking = np.array([key_modes[int(k)] == "walk" for k in np.floor(t + 0.5)])
    if walking.any():
        phase = rng.uniform(0, 2 * np.pi) + np.arange(n_frames) * rng.uniform(0.15, 0.3)
        params[walking] = walk_params(phase, rng)[walking]
    yaw_keys = rng.uniform(0, 360) + np.cumsum(rng.normal(0, 25, size=n_keys))
    yaw = np.interp(t, np.arange(n_keys), yaw_keys)
    return pose_from_params(params, yaw, lengths_mm)
