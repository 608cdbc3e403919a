"""Human3.6M-17 joint positions -> a BVH skeleton with rotations, the file an animation tool opens.

The hierarchy has the 17 Human3.6M joints (CAPF's joint names) plus four zero-offset branch joints,
``pelvis_r``, ``pelvis_l`` at the pelvis and ``thorax_l``, ``thorax_r`` at the thorax, 21 joints in all.
Why the branch joints: a BVH joint's one rotation places all of its children, so with the hips and the
spine hanging off the pelvis directly, the pelvis triangle (and the shoulders' triangle at the thorax)
would be frozen in its rest shape, and any pose whose trunk bends against its hips (every walk) would
come back wrong. With them every bone has its own rotation, so the positions come back exactly,
within the only constraint a skeleton has: one length per bone (the track's median).

Rest pose: a T-pose facing +Z, up +Y, the character's left on +X; offsets are the rest directions
times the median bone lengths, in metres. Rotations, per frame, from the positions alone:

* swing: each joint's rotation turns its rest bone direction onto the observed one;
* twist (the turn about the bone, which positions do not fix) from the neighbouring bones: the pelvis
  and the thorax from the hip and shoulder lines, the spine from the shoulder line, hips and knees
  from the knee's bending plane, shoulders and elbows from the elbow's (so knees and elbows rotate
  about one hinge axis); near a straight limb the plane is undefined, so from 20 degrees of bend down
  to 0 its normal is blended into the previous frame's twist, which a straight limb keeps, and the
  normal's sign follows the previous frame: a limb that straightens and bends on never flips (the
  first frame starts from the twist carried over from the parent);
* branch joints and the neck carry the parent's twist over (the smallest rotation that swings the bone).

Euler channels per joint, in an order whose middle axis is one a joint rarely turns 90 degrees about
(the middle one locks there): root ``Yrotation Xrotation Zrotation`` (any heading), limbs along Y
``Zrotation Yrotation Xrotation``, arms along X ``Zrotation Xrotation Yrotation``; of the two Euler
triples of a rotation, each frame takes the one nearest the previous frame, unwrapped, so curves are
continuous. Channel values are degrees, composed in the listed order (``Rz @ Ry @ Rx`` for
``Zrotation Yrotation Xrotation``), what CAPF's reader (:mod:`stages.synth.bvh`) and Blender's importer read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stages.lift.joints import H36M_JOINT_NAMES

X, Y, Z = np.eye(3)
BEND_FULL_DEG = 20.0  # bend at which the bending plane alone sets a limb's twist
ROOT_ORDER, ALONG_Y_ORDER, ALONG_X_ORDER = "YXZ", "ZYX", "ZXY"


@dataclass(frozen=True)
class BvhJointSpec:
    """One BVH joint: where it sits (a Human3.6M joint), which joint its rotation aims its bone at,
    the rest direction of that bone, and where the bone's twist comes from."""

    name: str
    parent: int                 # index into BVH_JOINTS, -1 for the root
    at: int                     # Human3.6M joint at this joint's position
    aim: int | None             # Human3.6M joint its bone points at (None: a leaf)
    rest_dir: np.ndarray        # the bone's rest direction (file axes)
    twist: str                  # "line": a body line, "bend": a bending plane, "follow": as `follow`, "carry"
    order: str                  # Euler axis order, as listed in CHANNELS
    line: tuple[int, int] = (0, 0)          # "line": the joints of the line (from, to)
    rest_ref: np.ndarray | None = None      # the rest direction of the line or of the bend normal
    bend_end: int | None = None             # "bend": the joint past `aim` (ankle, wrist)
    follow: int | None = None               # "follow": the BVH joint whose twist reference to reuse
    end_site: np.ndarray | None = None      # leaf: end-site offset as a fraction of its bone


def _skeleton() -> tuple[BvhJointSpec, ...]:
    s = []

    def add(**kw) -> int:
        s.append(BvhJointSpec(**kw))
        return len(s) - 1

    root = add(name="pelvis", parent=-1, at=0, aim=7, rest_dir=Y, twist="line", line=(1, 4), rest_ref=X,
               order=ROOT_ORDER)
    for side, sign, (hip, knee, ankle) in (("r", -1.0, (1, 2, 3)), ("l", 1.0, (4, 5, 6))):
        branch = add(name=f"pelvis_{side}", parent=root, at=0, aim=hip, rest_dir=sign * X, twist="carry",
                     order=ALONG_Y_ORDER)
        thigh = add(name=H36M_JOINT_NAMES[hip], parent=branch, at=hip, aim=knee, rest_dir=-Y, twist="bend",
                    bend_end=ankle, rest_ref=X, order=ALONG_Y_ORDER)
        shin = add(name=H36M_JOINT_NAMES[knee], parent=thigh, at=knee, aim=ankle, rest_dir=-Y, twist="follow",
                   follow=thigh, rest_ref=X, order=ALONG_Y_ORDER)
        add(name=H36M_JOINT_NAMES[ankle], parent=shin, at=ankle, aim=None, rest_dir=-Y, twist="carry",
            order=ALONG_Y_ORDER, end_site=0.4 * Z)
    spine = add(name="spine", parent=root, at=7, aim=8, rest_dir=Y, twist="line", line=(14, 11), rest_ref=X,
                order=ALONG_Y_ORDER)
    thorax = add(name="thorax", parent=spine, at=8, aim=9, rest_dir=Y, twist="line", line=(14, 11), rest_ref=X,
                 order=ALONG_Y_ORDER)
    neck = add(name="neck_nose", parent=thorax, at=9, aim=10, rest_dir=Y, twist="carry", order=ALONG_Y_ORDER)
    add(name="head", parent=neck, at=10, aim=None, rest_dir=Y, twist="carry", order=ALONG_Y_ORDER,
        end_site=0.5 * Y)
    for side, sign, (shoulder, elbow, wrist) in (("l", 1.0, (11, 12, 13)), ("r", -1.0, (14, 15, 16))):
        branch = add(name=f"thorax_{side}", parent=thorax, at=8, aim=shoulder, rest_dir=sign * X, twist="carry",
                     order=ALONG_X_ORDER)
        upper = add(name=H36M_JOINT_NAMES[shoulder], parent=branch, at=shoulder, aim=elbow, rest_dir=sign * X,
                    twist="bend", bend_end=wrist, rest_ref=-sign * Y, order=ALONG_X_ORDER)
        fore = add(name=H36M_JOINT_NAMES[elbow], parent=upper, at=elbow, aim=wrist, rest_dir=sign * X,
                   twist="follow", follow=upper, rest_ref=-sign * Y, order=ALONG_X_ORDER)
        add(name=H36M_JOINT_NAMES[wrist], parent=fore, at=wrist, aim=None, rest_dir=sign * X, twist="carry",
            order=ALONG_X_ORDER, end_site=0.4 * sign * X)
    return tuple(s)


BVH_JOINTS: tuple[BvhJointSpec, ...] = _skeleton()
BVH_JOINT_NAMES: tuple[str, ...] = tuple(j.name for j in BVH_JOINTS)


# ----------------------------------------------------------------------------------------- rotations

def _unit(v: np.ndarray, fallback: np.ndarray | None = None) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    out = v / np.maximum(norm, 1e-12)
    if fallback is not None:
        out = np.where(norm > 1e-9, out, fallback)
    return out


def _swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations ``(T, 3, 3)`` taking unit vectors ``a`` to ``b`` ``(T, 3)`` (Rodrigues)."""
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.clip((a * b).sum(-1), -1.0, 1.0)
    # opposite vectors: turn half a circle about any axis perpendicular to a
    helper = np.where(np.abs(a[:, :1]) < 0.9, X, Y)
    axis = np.where((sin < 1e-9)[:, None] & (cos < 0)[:, None], np.cross(a, helper), axis)
    axis = _unit(axis, X)
    angle = np.arctan2(sin, cos)
    k = np.zeros((len(a), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= np.transpose(k, (0, 2, 1))
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * k @ k


def _frame(d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Columns (d, r made perpendicular to d, d x r): ``(T, 3)`` x 2 -> ``(T, 3, 3)``."""
    r_perp = _unit(r - (r * d).sum(-1, keepdims=True) * d)
    return np.stack([d, r_perp, np.cross(d, r_perp)], axis=-1)


def _aim(d: np.ndarray, ref: np.ndarray, rest_dir: np.ndarray, rest_ref: np.ndarray) -> np.ndarray:
    """Rotations taking (rest_dir, rest_ref) to (d, ref): swing onto d, twist from ref."""
    rest = _frame(np.broadcast_to(rest_dir, d.shape), np.broadcast_to(rest_ref, d.shape))
    return _frame(d, ref) @ np.transpose(rest, (0, 2, 1))


def _held_twist(normal: np.ndarray, weight: np.ndarray, d: np.ndarray, carried: np.ndarray,
                rest_ref: np.ndarray) -> np.ndarray:
    """Per frame, a limb's twist reference: its bending plane's normal ``(T, 3)`` where the limb is bent
    (``weight`` 1), the previous frame's twist where it is straight (``weight`` 0, the plane is noise
    there), blended in between; the normal's sign follows the previous twist, so a limb that
    straightens and bends on never flips. The twist is held relative to the parent (``carried``
    ``(T, 3, 3)``: the parent's rotation swung onto the bone), so it turns with the body; before the
    first frame it is the rest reference carried over from the parent."""
    out = np.empty_like(normal)
    local = rest_ref
    for t in range(len(normal)):
        held = carried[t] @ local
        held = held - (held @ d[t]) * d[t]
        held /= max(np.linalg.norm(held), 1e-12)
        n = normal[t] if normal[t] @ held >= 0 else -normal[t]
        ref = weight[t] * n + (1.0 - weight[t]) * held
        out[t] = ref / max(np.linalg.norm(ref), 1e-12)
        local = carried[t].T @ out[t]
    return out


def global_rotations(positions: np.ndarray) -> np.ndarray:
    """Per frame and BVH joint, the joint's global rotation ``(T, 21, 3, 3)`` from ``(T, 17, 3)``
    positions in file axes (module docstring: swing from the bone, twist from its neighbours)."""
    t = len(positions)
    rots = np.zeros((t, len(BVH_JOINTS), 3, 3))
    refs: dict[int, np.ndarray] = {}
    min_sin = np.sin(np.radians(BEND_FULL_DEG))
    for k, joint in enumerate(BVH_JOINTS):
        parent = rots[:, joint.parent] if joint.parent >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        if joint.aim is None:
            rots[:, k] = parent
            continue
        carried_dir = parent @ joint.rest_dir
        d = _unit(positions[:, joint.aim] - positions[:, joint.at], carried_dir)
        carried = _swing(carried_dir, d) @ parent  # the parent's twist carried over
        if joint.twist == "carry":
            rots[:, k] = carried
            continue
        if joint.twist == "line":
            ref = positions[:, joint.line[1]] - positions[:, joint.line[0]]
        elif joint.twist == "follow":
            ref = refs[joint.follow]
        else:  # "bend": the normal of the limb's bending plane, the twist held where the limb is straight
            upper = positions[:, joint.aim] - positions[:, joint.at]
            lower = positions[:, joint.bend_end] - positions[:, joint.aim]
            normal = np.cross(upper, lower)
            sin = np.linalg.norm(normal, axis=-1) / np.maximum(
                np.linalg.norm(upper, axis=-1) * np.linalg.norm(lower, axis=-1), 1e-12)
            ref = _held_twist(_unit(normal, np.zeros(3)), np.clip(sin / min_sin, 0.0, 1.0), d, carried,
                              joint.rest_ref)
        refs[k] = ref
        ref_perp = ref - (ref * d).sum(-1, keepdims=True) * d
        degenerate = np.linalg.norm(ref_perp, axis=-1) < 1e-6 * np.maximum(np.linalg.norm(ref, axis=-1), 1e-12)
        aimed = _aim(d, np.where(degenerate[:, None], carried @ joint.rest_ref, ref), joint.rest_dir, joint.rest_ref)
        rots[:, k] = np.where(degenerate[:, None, None], carried, aimed)
    return rots


# ----------------------------------------------------------------------------------------- Euler angles

def continuous_euler_deg(local: np.ndarray, order: str) -> np.ndarray:
    """``(T, 3, 3)`` rotations -> ``(T, 3)`` degrees for ``R = R_order[0] @ R_order[1] @ R_order[2]``,
    each frame's triple the one of the two equivalent ones nearest the previous frame's, unwrapped."""
    from scipy.spatial.transform import Rotation

    angles = Rotation.from_matrix(local).as_euler(order.upper(), degrees=False)
    alternative = angles + np.array([np.pi, 0.0, np.pi])
    alternative[:, 1] = np.pi - angles[:, 1]
    out = np.empty_like(angles)
    previous = np.zeros(3)
    for f in range(len(angles)):
        best, best_cost = None, np.inf
        for candidate in (angles[f], alternative[f]):
            unwrapped = candidate + 2 * np.pi * np.round((previous - candidate) / (2 * np.pi))
            cost = np.abs(unwrapped - previous).sum()
            if cost < best_cost:
                best, best_cost = unwrapped, cost
        out[f] = previous = best
    return np.degrees(out)


# ----------------------------------------------------------------------------------------- motion

@dataclass
class BvhMotion:
    """What one BVH file holds: offsets (m), per-frame root position (m) and Euler angles (deg), and
    the positions the file encodes (its forward kinematics, computed here: ``(T, 17, 3)`` m)."""

    offsets_m: np.ndarray        # (21, 3)
    end_sites_m: dict[int, np.ndarray]
    root_m: np.ndarray           # (T, 3)
    euler_deg: np.ndarray        # (T, 21, 3) in each joint's channel order
    encoded_m: np.ndarray        # (T, 17, 3)
    bone_lengths_m: np.ndarray   # (17,) median length of the bone ending at each joint (0 for the pelvis)
    frame_time_s: float

    @property
    def num_frames(self) -> int:
        return len(self.root_m)


def median_bone_lengths(positions: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` -> ``(17,)`` median over frames of |joint - parent| (0 for the root)."""
    lengths = np.zeros(len(H36M_JOINT_NAMES))
    for joint in BVH_JOINTS:
        if joint.aim is not None:
            lengths[joint.aim] = np.median(np.linalg.norm(positions[:, joint.aim] - positions[:, joint.at], axis=-1))
    return lengths


def bvh_motion(positions_m: np.ndarray, frame_time_s: float) -> BvhMotion:
    """``(T, 17, 3)`` finite joint positions in file axes (metres, Y up) -> the file's content."""
    positions_m = np.asarray(positions_m, dtype=np.float64)
    if positions_m.ndim != 3 or positions_m.shape[1:] != (17, 3) or not np.isfinite(positions_m).all():
        raise ValueError(f"bvh_motion needs finite (T, 17, 3) positions, got {positions_m.shape}")
    lengths = median_bone_lengths(positions_m)
    offsets = np.zeros((len(BVH_JOINTS), 3))
    end_sites = {}
    for k, joint in enumerate(BVH_JOINTS):
        if joint.aim is not None:
            child = next(c for c, j in enumerate(BVH_JOINTS) if j.parent == k and j.at == joint.aim)
            offsets[child] = joint.rest_dir * lengths[joint.aim]
        else:
            end_sites[k] = joint.end_site * lengths[joint.at]
    rots = global_rotations(positions_m)
    parents = np.array([j.parent for j in BVH_JOINTS])
    local = rots.copy()
    local[:, 1:] = np.transpose(rots[:, parents[1:]], (0, 1, 3, 2)) @ rots[:, 1:]
    euler = np.stack([continuous_euler_deg(local[:, k], j.order) for k, j in enumerate(BVH_JOINTS)], axis=1)
    # the file's own forward kinematics, from the rotations it stores
    placed = np.zeros((len(positions_m), len(BVH_JOINTS), 3))
    placed[:, 0] = positions_m[:, 0]
    for k in range(1, len(BVH_JOINTS)):
        placed[:, k] = placed[:, parents[k]] + rots[:, parents[k]] @ offsets[k]
    encoded = np.zeros_like(positions_m)
    for k, joint in enumerate(BVH_JOINTS):
        encoded[:, joint.at] = placed[:, k]
    return BvhMotion(offsets, end_sites, positions_m[:, 0].copy(), euler, encoded, lengths, float(frame_time_s))


_AXIS_CHANNEL = {"X": "Xrotation", "Y": "Yrotation", "Z": "Zrotation"}


def bvh_text(motion: BvhMotion) -> str:
    """The BVH file: HIERARCHY (tab-indented) and MOTION (6 decimals: micrometres, micro-degrees)."""
    children = {k: [c for c, j in enumerate(BVH_JOINTS) if j.parent == k] for k in range(len(BVH_JOINTS))}
    lines = ["HIERARCHY"]

    def emit(k: int, depth: int) -> None:
        pad = "\t" * depth
        joint = BVH_JOINTS[k]
        lines.append(f"{pad}{'ROOT' if joint.parent < 0 else 'JOINT'} {joint.name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}\tOFFSET " + " ".join(f"{v:.6f}" for v in motion.offsets_m[k]))
        rotation = " ".join(_AXIS_CHANNEL[a] for a in joint.order)
        lines.append(f"{pad}\tCHANNELS " + ("6 Xposition Yposition Zposition " if joint.parent < 0 else "3 ")
                     + rotation)
        for child in children[k]:
            emit(child, depth + 1)
        if k in motion.end_sites_m:
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{",
                          f"{pad}\t\tOFFSET " + " ".join(f"{v:.6f}" for v in motion.end_sites_m[k]), f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    lines += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {motion.frame_time_s:.8f}"]
    values = np.concatenate([motion.root_m, motion.euler_deg.reshape(motion.num_frames, -1)], axis=1)
    lines += [" ".join(f"{v:.6f}" for v in row) for row in values]
    return "\n".join(lines) + "\n"


def write_bvh(path: Path, motion: BvhMotion) -> Path:
    """Write the file under a temporary name and rename it: a reader never sees half a BVH."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(bvh_text(motion))
    tmp.replace(path)
    return path
