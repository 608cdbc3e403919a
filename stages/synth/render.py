"""Render a Human3.6M pose as shaded 3D capsules with a z-buffer, over a random background.

Why this look: the lifter must gain from image context, so the image carries depth that 2D joints
lack.
- Every body part is a sphere-swept cone (capsule) whose radius is projected with the perspective
  (``f * r_mm / Z``), so the nearer end of a bone is thicker.
- A per-pixel z-buffer resolves occlusion exactly: a nearer limb covers a farther one.
- Brightness falls with depth relative to the pelvis (``DEPTH_SHADE``): a bone pointing at the
  camera brightens towards its near end, one pointing away darkens, which settles the sign of each
  bone's depth locally, around the joints, where the lifter samples features.
- Lambert + specular shading of the surface normal makes the parts look round.
- Lighter balls at knees, elbows and shoulders; a face (eyes, nose, ears) and hair that show where
  the head looks.
- Two looks of the limbs (:data:`LOOKS`):
  ``limbs``: fixed, distinct colours per limb, warm on the left side and cool on the right. Left and
  right are told apart by colour alone, a shortcut no real image offers.
  ``clothing``: arms take the subject's shirt (forearms a sleeve or bare skin), legs the pants (shins
  the pants or bare skin), hands skin, feet shoes, the same on both sides, as clothes are. Only the
  face and the body's 3D shape (occlusion, shading, perspective) tell left from right, as in real
  images. Everything else (trunk, head, shading, the subject's colours) is the same in both looks,
  so a study of the two changes one thing.
Backgrounds mix gradients, smooth colour noise, random shapes and pixel noise.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from stages.synth.face import HEAD_RADIUS_MM, face_landmarks
from stages.synth.skeleton import body_frame, unit

BGR = tuple[float, float, float]  # OpenCV's channel order, 0..255

PART_IDS: dict[str, int] = {
    name: i + 1
    for i, name in enumerate((
        "torso", "hips", "neck", "head", "face", "right_thigh", "right_shin", "left_thigh", "left_shin",
        "right_upper_arm", "right_forearm", "left_upper_arm", "left_forearm", "right_hand", "left_hand",
        "right_foot", "left_foot", "right_knee", "left_knee", "right_elbow", "left_elbow",
        "right_shoulder", "left_shoulder",
    ))
}  # fmt: skip


def _hsv(h_deg: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h_deg / 360.0, s, v)
    return (255.0 * b, 255.0 * g, 255.0 * r)  # OpenCV's BGR


def _lighter(bgr: tuple[float, float, float], amount: float = 0.45) -> tuple[float, float, float]:
    return tuple(c + amount * (255.0 - c) for c in bgr)  # type: ignore[return-value]


def _mix(a: tuple[float, float, float], b: tuple[float, float, float], w: float) -> tuple[float, float, float]:
    return tuple((1 - w) * x + w * y for x, y in zip(a, b))  # type: ignore[return-value]


# Semantic limb colours (BGR): warm hues on the left, cool hues on the right, one per bone.
LIMB_BGR: dict[str, tuple[float, float, float]] = {
    "left_thigh": _hsv(0, 0.85, 0.95), "left_shin": _hsv(30, 0.9, 1.0),
    "left_upper_arm": _hsv(305, 0.75, 0.95), "left_forearm": _hsv(55, 0.9, 1.0),
    "right_thigh": _hsv(225, 0.85, 0.95), "right_shin": _hsv(185, 0.9, 1.0),
    "right_upper_arm": _hsv(120, 0.75, 0.9), "right_forearm": _hsv(160, 0.9, 1.0),
}  # fmt: skip

LOOKS: tuple[str, ...] = ("limbs", "clothing")
DEFAULT_LOOK = "limbs"
# What each look means for left/right (the synthetic dataset's meta.json records it).
LEFT_RIGHT_COLOURS: dict[str, str] = {
    "limbs": "left limbs warm, right limbs cool: colour alone tells left from right; do not flip-augment the detector",
    "clothing": "left and right limbs share the subject's clothing and skin colours: only the face and the "
                "body's 3D shape tell left from right",
}  # fmt: skip
_SIDES = ("left", "right")
_LIMB_PARTS = ("thigh", "shin", "upper_arm", "forearm", "knee", "elbow", "shoulder", "hand", "foot")


def depth_shade(z_mm: np.ndarray, root_z_mm: float) -> np.ndarray:
    """Brightness factor in (0.1, 1.0): 0.55 at the pelvis' depth, brighter when nearer the camera.

    A bone 250 mm nearer than the pelvis is about 0.34 brighter: an elbow 0.3 m in front of the
    shoulder is plainly lighter than one 0.3 m behind it.
    """
    return 0.55 + 0.45 * np.tanh((root_z_mm - z_mm) / 250.0)


@dataclass(frozen=True)
class Appearance:
    """A subject's look: clothes, skin and hair colours (BGR), a thickness factor, and the colour of
    every limb part (``limb_bgr``, keys ``<side>_<part>``: thigh, shin, upper_arm, forearm, knee,
    elbow, shoulder, hand, foot), which the ``look`` decides."""

    build: float
    shirt_bgr: tuple[float, float, float]
    pants_bgr: tuple[float, float, float]
    skin_bgr: tuple[float, float, float]
    hair_bgr: tuple[float, float, float]
    shoe_bgr: tuple[float, float, float]
    limb_bgr: Mapping[str, BGR]
    look: str = DEFAULT_LOOK


def _limb_colours_per_limb(skin: BGR, shoe: BGR) -> dict[str, BGR]:
    """The ``limbs`` look: :data:`LIMB_BGR` per bone, lighter balls of it, hands and feet tinted."""
    out = {}
    for side in _SIDES:
        thigh, shin = LIMB_BGR[f"{side}_thigh"], LIMB_BGR[f"{side}_shin"]
        upper, fore = LIMB_BGR[f"{side}_upper_arm"], LIMB_BGR[f"{side}_forearm"]
        out.update({f"{side}_thigh": thigh, f"{side}_shin": shin, f"{side}_upper_arm": upper,
                    f"{side}_forearm": fore, f"{side}_knee": _lighter(thigh), f"{side}_elbow": _lighter(upper),
                    f"{side}_shoulder": _lighter(upper, 0.25), f"{side}_hand": _mix(skin, fore, 0.3),
                    f"{side}_foot": _mix(shoe, shin, 0.35)})  # fmt: skip
    return out


def _limb_colours_clothing(shirt: BGR, pants: BGR, skin: BGR, shoe: BGR, short_sleeves: bool,
                           shorts: bool) -> dict[str, BGR]:
    """The ``clothing`` look: one colour table for both sides, from the subject's clothes and skin."""
    fore = skin if short_sleeves else shirt
    shin = skin if shorts else pants
    one_side = {"thigh": pants, "shin": shin, "upper_arm": shirt, "forearm": fore, "knee": _lighter(shin),
                "elbow": _lighter(fore), "shoulder": _lighter(shirt, 0.25), "hand": skin, "foot": shoe}  # fmt: skip
    return {f"{side}_{part}": one_side[part] for side in _SIDES for part in _LIMB_PARTS}


def make_appearance(subject: str, seed: int, look: str = DEFAULT_LOOK) -> Appearance:
    """Deterministic per-subject look (in ``limbs``, clothes never take a limb's hue).

    The subject's colours and build are the same draws in every look (the look's own draws come
    after them), so the two worlds differ only in how the limbs are coloured.
    """
    if look not in LOOKS:
        raise ValueError(f"unknown look {look!r}; one of {', '.join(LOOKS)}")
    rng = np.random.default_rng([seed, 5, int(subject.lstrip("S"))])
    skin_v = rng.uniform(0.45, 0.95)
    build = float(rng.uniform(0.9, 1.15))
    shirt = _hsv(rng.choice([270.0, 340.0, 90.0, 0.0]), rng.uniform(0.0, 0.4), rng.uniform(0.55, 0.85))
    pants = _hsv(rng.uniform(0, 360), rng.uniform(0.0, 0.3), rng.uniform(0.25, 0.5))
    skin = _hsv(rng.uniform(18, 32), rng.uniform(0.3, 0.55), skin_v)
    hair = _hsv(rng.uniform(20, 40), rng.uniform(0.2, 0.7), rng.uniform(0.08, 0.35))
    shoe = _hsv(0, 0.0, rng.uniform(0.1, 0.25))
    short_sleeves, shorts = bool(rng.random() < 0.4), bool(rng.random() < 0.2)
    limb_bgr = (_limb_colours_per_limb(skin, shoe) if look == "limbs"
                else _limb_colours_clothing(shirt, pants, skin, shoe, short_sleeves, shorts))  # fmt: skip
    return Appearance(build=build, shirt_bgr=shirt, pants_bgr=pants, skin_bgr=skin, hair_bgr=hair, shoe_bgr=shoe,
                      limb_bgr=limb_bgr, look=look)


@dataclass(frozen=True)
class Capsule:
    """A sphere-swept cone between two camera-frame points (mm); a sphere when p0 == p1.

    ``hair`` = (forward, up, colour): the surface facing backwards or up takes the hair colour.
    """

    p0: np.ndarray
    p1: np.ndarray
    r0_mm: float
    r1_mm: float
    bgr: tuple[float, float, float]
    part: int
    hair: tuple[np.ndarray, np.ndarray, tuple[float, float, float]] | None = None


def body_capsules(joints_cam_mm: np.ndarray, look: Appearance) -> list[Capsule]:
    """Capsules of the whole body for one pose, (17, 3) camera-frame joints in mm."""
    j = joints_cam_mm
    k = look.build
    face = face_landmarks(j)
    fwd_body = body_frame(j[None])[0][:, 1]
    caps: list[Capsule] = []

    def cap(a: int | np.ndarray, b: int | np.ndarray, r0: float, r1: float, bgr, part: str, **kw) -> None:
        p0 = j[a] if isinstance(a, int) else a
        p1 = j[b] if isinstance(b, int) else b
        caps.append(Capsule(p0, p1, r0 * k, r1 * k, bgr, PART_IDS[part], **kw))

    # Trunk: pelvis, belly and chest tubes, flanks and shoulder girdle fill a torso.
    cap(1, 4, 88, 88, look.pants_bgr, "hips")
    cap(0, 7, 112, 108, _mix(look.pants_bgr, look.shirt_bgr, 0.7), "torso")
    cap(7, 8, 108, 100, look.shirt_bgr, "torso")
    # Flanks start halfway to the shoulders: an arm hanging at the side stays outside the torso.
    cap(0.5 * (j[8] + j[11]), 4, 62, 78, look.shirt_bgr, "torso")
    cap(0.5 * (j[8] + j[14]), 1, 62, 78, look.shirt_bgr, "torso")
    cap(8, 11, 58, 52, look.shirt_bgr, "torso")
    cap(8, 14, 58, 52, look.shirt_bgr, "torso")
    # Neck, head (hair on the back and top), and the face landmarks.
    cap(8, face["head_centre"], 42, 42, look.skin_bgr, "neck")
    caps.append(Capsule(face["head_centre"], face["head_centre"], HEAD_RADIUS_MM * k**0.3,
                        HEAD_RADIUS_MM * k**0.3, look.skin_bgr, PART_IDS["head"],
                        hair=(face["forward"], face["up"], look.hair_bgr)))  # fmt: skip
    for name, r, bgr in (("left_eye", 13, (40.0, 30.0, 30.0)), ("right_eye", 13, (40.0, 30.0, 30.0)),
                         ("nose", 16, _mix(look.skin_bgr, (60.0, 60.0, 200.0), 0.35)),
                         ("left_ear", 22, look.skin_bgr), ("right_ear", 22, look.skin_bgr)):  # fmt: skip
        caps.append(Capsule(face[name], face[name], r, r, bgr, PART_IDS["face"]))
    # Limbs, joint balls, hands and feet.
    for side, (hip, knee, ankle, sho, elb, wri) in (("right", (1, 2, 3, 14, 15, 16)),
                                                     ("left", (4, 5, 6, 11, 12, 13))):  # fmt: skip
        bgr = {part: look.limb_bgr[f"{side}_{part}"] for part in _LIMB_PARTS}
        cap(hip, knee, 78, 56, bgr["thigh"], f"{side}_thigh")
        cap(knee, ankle, 54, 40, bgr["shin"], f"{side}_shin")
        cap(sho, elb, 46, 38, bgr["upper_arm"], f"{side}_upper_arm")
        cap(elb, wri, 37, 30, bgr["forearm"], f"{side}_forearm")
        cap(knee, knee, 60, 60, bgr["knee"], f"{side}_knee")
        cap(elb, elb, 42, 42, bgr["elbow"], f"{side}_elbow")
        cap(sho, sho, 54, 54, bgr["shoulder"], f"{side}_shoulder")
        hand_tip = j[wri] + 85.0 * unit(j[wri] - j[elb])
        cap(wri, hand_tip, 33, 27, bgr["hand"], f"{side}_hand")
        shin_dir = unit(j[ankle] - j[knee])
        foot_dir = unit(fwd_body - np.dot(fwd_body, shin_dir) * shin_dir)
        toe = j[ankle] + 150.0 * foot_dir + 45.0 * shin_dir
        cap(ankle, toe, 42, 32, bgr["foot"], f"{side}_foot")
    return caps


@dataclass(frozen=True)
class Light:
    """Unit direction towards the light in camera coordinates (x right, y down, z forward)."""

    direction: np.ndarray
    ambient: float = 0.38
    specular: float = 70.0


def default_light() -> Light:
    return Light(direction=unit(np.array([-0.35, -0.55, -1.0])))


def draw_capsules(image: np.ndarray, capsules: list[Capsule], focal_px: np.ndarray, centre_px: np.ndarray,
                  root_z_mm: float, light: Light) -> np.ndarray:
    """Z-buffered rendering of capsules into ``image`` (H, W, 3) float32 BGR, in place.

    Returns:
        (H, W) uint8 part labels (0 = background), from the nearest surface at each pixel.
    """
    height, width = image.shape[:2]
    zbuf = np.full((height, width), np.inf, dtype=np.float32)
    labels = np.zeros((height, width), dtype=np.uint8)
    f_mean = float(np.mean(focal_px))
    # Far to near, so anti-aliased edges blend over what lies behind them.
    for c in sorted(capsules, key=lambda c: -(c.p0[2] + c.p1[2])):
        if min(c.p0[2], c.p1[2]) <= 1.0:
            continue
        a = c.p0[:2] / c.p0[2] * focal_px + centre_px
        b = c.p1[:2] / c.p1[2] * focal_px + centre_px
        ra, rb = f_mean * c.r0_mm / c.p0[2], f_mean * c.r1_mm / c.p1[2]
        x0 = max(int(np.floor(min(a[0] - ra, b[0] - rb))) - 1, 0)
        x1 = min(int(np.ceil(max(a[0] + ra, b[0] + rb))) + 2, width)
        y0 = max(int(np.floor(min(a[1] - ra, b[1] - rb))) - 1, 0)
        y1 = min(int(np.ceil(max(a[1] + ra, b[1] + rb))) + 2, height)
        if x0 >= x1 or y0 >= y1:
            continue
        px = np.arange(x0, x1, dtype=np.float32)[None, :] - np.float32(a[0])
        py = np.arange(y0, y1, dtype=np.float32)[:, None] - np.float32(a[1])
        abx, aby = np.float32(b[0] - a[0]), np.float32(b[1] - a[1])
        l2 = abx * abx + aby * aby
        t = np.clip((px * abx + py * aby) / l2, 0.0, 1.0) if l2 > 1e-6 else np.zeros_like(px * py)
        dx, dy = px - t * abx, py - t * aby
        d = np.sqrt(dx * dx + dy * dy)
        r = np.float32(ra) + t * np.float32(rb - ra)
        cover = np.clip(r + 0.5 - d, 0.0, 1.0)
        s = np.minimum(d / np.maximum(r, 1e-3), 1.0)
        bulge = np.sqrt(1.0 - s * s)
        z = (c.p0[2] + t * (c.p1[2] - c.p0[2]) - (c.r0_mm + t * (c.r1_mm - c.r0_mm)) * bulge).astype(np.float32)
        zview, lview, iview = zbuf[y0:y1, x0:x1], labels[y0:y1, x0:x1], image[y0:y1, x0:x1]
        draw = (cover > 0.0) & (z < zview)
        if not draw.any():
            continue
        inv_d = 1.0 / np.maximum(d, 1e-3)
        nx, ny, nz = dx * inv_d * s, dy * inv_d * s, -bulge  # surface normal, camera axes
        lam = np.clip(nx * light.direction[0] + ny * light.direction[1] + nz * light.direction[2], 0.0, 1.0)
        shade = depth_shade(z, root_z_mm)
        base = np.asarray(c.bgr, dtype=np.float32)
        colour = base * (shade * (light.ambient + (1.0 - light.ambient) * lam))[..., None]
        if c.hair is not None:
            forward, up, hair_bgr = c.hair
            backness = -(nx * forward[0] + ny * forward[1] + nz * forward[2])
            topness = nx * up[0] + ny * up[1] + nz * up[2]
            is_hair = (backness > 0.15) | (topness > 0.6)
            hair_col = np.asarray(hair_bgr, dtype=np.float32) * (shade * (0.5 + 0.5 * lam))[..., None]
            colour = np.where(is_hair[..., None], hair_col, colour)
        colour += (light.specular * shade * lam**24)[..., None]
        alpha = cover[..., None]
        iview[draw] = (alpha * colour + (1.0 - alpha) * iview)[draw]
        solid = draw & (cover >= 0.5)
        zview[solid] = z[solid]
        lview[solid] = c.part
    return labels


def render_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A random background (H, W, 3) float32 BGR in [0, 255]: gradient, smooth noise, shapes.

    Colours are partly desaturated so the saturated limb colours of the ``limbs`` look stay the most
    salient things in the image without being the only ones (the ``clothing`` look is duller, as
    clothes are, and stands out by shape and shading more than by colour).
    """
    saturation = rng.uniform(0.2, 0.9)

    def desaturate(bgr: np.ndarray) -> np.ndarray:
        grey = bgr.mean(axis=-1, keepdims=True)
        return grey + saturation * (bgr - grey)

    # Gradient + smooth colour noise, built on a coarse grid and upsampled once (cheap).
    cells = int(rng.integers(3, 12))
    c0, c1 = rng.uniform(20, 235, size=3), rng.uniform(20, 235, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    g = np.linspace(-0.5, 0.5, cells)
    ramp = np.clip(np.cos(angle) * g[None, :] + np.sin(angle) * g[:, None] + 0.5, 0, 1)
    coarse = c0 + (c1 - c0) * ramp[..., None] + rng.normal(0, rng.uniform(5, 40), size=(cells, cells, 3))
    image = cv2.resize(desaturate(coarse).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    scale = min(width, height)
    for _ in range(int(rng.integers(0, 16))):
        col = tuple(float(v) for v in desaturate(rng.uniform(0, 255, size=3)))
        kind = int(rng.integers(0, 4))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.uniform(0.02, 0.3) * scale)
        thick = -1 if rng.random() < 0.6 else int(rng.integers(1, 8))
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + size, y + int(rng.uniform(0.3, 2) * size)), col, thick)
        elif kind == 1:
            cv2.circle(image, (x, y), max(size // 2, 1), col, thick)
        elif kind == 2:
            axes = (max(size // 2, 1), max(int(rng.uniform(0.2, 1) * size // 2), 1))
            cv2.ellipse(image, (x, y), axes, float(rng.uniform(0, 180)), 0, 360, col, thick)
        else:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(image, (x, y), (x2, y2), col, int(rng.integers(1, 10)))
    if rng.random() < 0.5:
        k = int(rng.integers(1, 4)) * 2 + 1
        image = cv2.GaussianBlur(image, (k, k), 0)
    return image


def render_frame(rng: np.random.Generator, joints_cam_mm: np.ndarray, focal_px: np.ndarray,
                 centre_px: np.ndarray, width: int, height: int, look: Appearance,
                 light: Light | None = None, background: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Background + body + mild sensor noise.

    Args:
        rng: drives the background and noise only (the body is a function of the pose).
        joints_cam_mm: (17, 3) camera-frame joints.
        focal_px, centre_px: (2,) intrinsics.
        background: (H, W, 3) BGR to draw on (a scene's own backdrop); default a random one.
    Returns:
        image (H, W, 3) uint8 BGR and labels (H, W) uint8 (:data:`PART_IDS`, 0 = background).
    """
    if background is None:
        image = render_background(rng, width, height)
    else:
        image = np.array(background, dtype=np.float32)
    labels = draw_capsules(image, body_capsules(joints_cam_mm, look), np.asarray(focal_px, dtype=np.float64),
                           np.asarray(centre_px, dtype=np.float64), float(joints_cam_mm[0, 2]),
                           light or default_light())  # fmt: skip
    image += np.float32(rng.uniform(1.0, 5.0)) * rng.standard_normal(size=(height, width, 1), dtype=np.float32)
    return np.clip(image + 0.5, 0, 255).astype(np.uint8), labels
