"""Depth cues of the renderer: occlusion order, perspective thickness, brighter when nearer; the
two looks (per-limb colours, or clothing the same on left and right)."""

import numpy as np
import pytest

from stages.synth.cameras import look_at_rotation, world_to_camera
from stages.synth.pose_sampler import PARAMS, pose_from_params
from stages.synth.render import (
    PART_IDS,
    Capsule,
    Light,
    body_capsules,
    default_light,
    draw_capsules,
    make_appearance,
    render_frame,
)
from stages.synth.skeleton import subject_bone_lengths, unit

FOCAL = np.array([572.5, 572.5])
CENTRE = np.array([250.0, 250.0])


def _camera_4m_in_front(joints_world_mm: np.ndarray) -> np.ndarray:
    """World (z up) -> frame of a camera at y = -4 m, hip height, looking along +y."""
    camera = {"R": look_at_rotation(np.array([0.0, -4.0, 0.0]), np.array([0.0, 0.0, 0.0])),
              "T": np.array([[0.0], [-4.0], [0.0]])}  # fmt: skip
    return world_to_camera(joints_world_mm / 1000.0, camera) * 1000.0


def _draw(capsules: list[Capsule], root_z: float = 5000.0) -> tuple[np.ndarray, np.ndarray]:
    image = np.zeros((500, 500, 3), dtype=np.float32)
    labels = draw_capsules(image, capsules, FOCAL, CENTRE, root_z, default_light())
    return image, labels


def test_nearer_capsule_covers_farther_one_whatever_the_drawing_order() -> None:
    near = Capsule(np.array([-400.0, 0, 4500]), np.array([400.0, 0, 4500]), 60, 60, (0, 0, 255), 1)
    far = Capsule(np.array([0.0, -400, 5500]), np.array([0.0, 400, 5500]), 60, 60, (255, 0, 0), 2)
    for order in ([near, far], [far, near]):
        _, labels = _draw(order)
        assert labels[250, 250] == 1  # the crossing shows the near one
        assert labels[250 - 40, 250] == 2  # the far one is visible where the near one is not


def test_bone_towards_the_camera_is_thicker_and_brighter_at_its_near_end() -> None:
    bone = Capsule(np.array([-300.0, 0, 4600]), np.array([300.0, 0, 5400]), 50, 50, (200, 200, 200), 1)
    image, labels = _draw([bone])
    near_x, far_x = 250 - int(0.8 * 300 / 4600 * 572.5), 250 + int(0.8 * 300 / 5400 * 572.5)
    width_near, width_far = (labels[:, near_x] > 0).sum(), (labels[:, far_x] > 0).sum()
    assert width_near > width_far + 1  # perspective: r_px = f r / Z
    grey = image.mean(axis=2)
    assert grey[245:256, near_x].mean() > 1.3 * grey[245:256, far_x].mean()


def test_body_forearm_in_front_of_the_chest_is_drawn_over_it() -> None:
    lengths = subject_bone_lengths("S1", seed=0)
    params = np.zeros((1, len(PARAMS)))
    params[0, PARAMS.index("l_elbow")] = 100.0  # left forearm bent forwards ...
    params[0, PARAMS.index("l_sho_rot")] = 70.0  # ... and rotated inwards, across the chest
    params[0, PARAMS.index("l_sho_elev")] = 30.0
    joints = pose_from_params(params, np.array([180.0]), lengths)  # facing -y, towards the camera
    cam = _camera_4m_in_front(joints[0])
    _, labels = _draw(body_capsules(cam, make_appearance("S1", 0)), root_z=float(cam[0, 2]))
    mid = 0.5 * (cam[12] + cam[13])
    u, v = (mid[:2] / mid[2] * FOCAL + CENTRE).round().astype(int)
    assert cam[13, 2] < cam[7, 2] - 100  # the wrist really is in front of the spine
    assert labels[v, u] == PART_IDS["left_forearm"]


def test_render_frame_is_deterministic_and_seed_dependent() -> None:
    lengths = subject_bone_lengths("S5", seed=0)
    joints = pose_from_params(np.zeros((1, len(PARAMS))), np.array([180.0]), lengths)[0]
    cam = _camera_4m_in_front(joints)
    look = make_appearance("S5", 0)
    a, la = render_frame(np.random.default_rng(1), cam, FOCAL, CENTRE, 500, 500, look)
    b, lb = render_frame(np.random.default_rng(1), cam, FOCAL, CENTRE, 500, 500, look)
    c, lc = render_frame(np.random.default_rng(2), cam, FOCAL, CENTRE, 500, 500, look)
    assert a.dtype == np.uint8 and a.shape == (500, 500, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lc)  # the body does not depend on the background's seed
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 5
    assert (la > 0).sum() > 2000


def _mirror_symmetric_pose() -> np.ndarray:
    """(17, 3) camera-frame mm: a pose with the left arm raised sideways and bent, the left leg
    spread and bent, whose right side is the left side mirrored in the camera's x = 0 plane (the
    body faces the camera)."""
    lengths = subject_bone_lengths("S1", seed=0)
    params = np.zeros((1, len(PARAMS)))
    for name, degrees in (("l_sho_plane", 90), ("l_sho_elev", 70), ("l_elbow", 60), ("l_hip_plane", 90),
                          ("l_hip_elev", 20), ("l_knee", 30)):  # fmt: skip
        params[0, PARAMS.index(name)] = degrees
    cam = _camera_4m_in_front(pose_from_params(params, np.array([180.0]), lengths)[0])
    for centre in (0, 7, 8, 9, 10):
        cam[centre, 0] = 0.0
    for left, right in zip((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16)):
        cam[right] = cam[left] * np.array([-1.0, 1.0, 1.0])
    return cam


def _render_symmetric(look: str) -> tuple[np.ndarray, np.ndarray]:
    """Body only, on flat grey, with a light in the mirror plane and the principal point on the
    image's middle column, so a mirror-symmetric scene gives a mirror-symmetric image."""
    cam = _mirror_symmetric_pose()
    image = np.full((220, 200, 3), 110.0, dtype=np.float32)
    light = Light(direction=unit(np.array([0.0, -0.55, -1.0])))
    capsules = body_capsules(cam, make_appearance("S1", 0, look))
    labels = draw_capsules(image, capsules, np.array([300.0, 300.0]), np.array([99.5, 110.0]), float(cam[0, 2]), light)
    return image, labels


def test_clothing_look_is_mirror_symmetric_and_the_limbs_look_is_not() -> None:
    clothing, labels = _render_symmetric("clothing")
    limbs, _ = _render_symmetric("limbs")
    # The scene is symmetric: the mirrored label map shows each left part where the right one is.
    to_other_side = np.arange(256)
    for name, part in PART_IDS.items():
        for a, b in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(a):
                to_other_side[part] = PART_IDS[name.replace(a, b)]
    limb_pixels = np.isin(labels, [p for n, p in PART_IDS.items() if n.startswith(("left_", "right_"))])
    assert limb_pixels.sum() > 800
    assert (to_other_side[labels[:, ::-1]] == labels).mean() > 0.995
    # Clothing: the image equals its mirror image, face and limbs included.
    diff = np.abs(clothing - clothing[:, ::-1]).max(axis=2)
    assert diff[limb_pixels].max() < 1.0 and np.percentile(diff, 99.9) < 1.0
    # Limbs: a left limb and its mirrored right limb differ in colour.
    diff_limbs = np.abs(limbs - limbs[:, ::-1]).max(axis=2)
    assert np.median(diff_limbs[limb_pixels]) > 40


def test_looks_share_the_subject_and_only_clothing_is_the_same_on_both_sides() -> None:
    for subject in ("S1", "S5", "S6", "S7", "S8", "S9", "S11"):
        limbs, clothing = make_appearance(subject, 3, "limbs"), make_appearance(subject, 3, "clothing")
        assert make_appearance(subject, 3, "clothing") == clothing  # deterministic from the seed
        assert (limbs.build, limbs.shirt_bgr, limbs.pants_bgr, limbs.skin_bgr) == \
            (clothing.build, clothing.shirt_bgr, clothing.pants_bgr, clothing.skin_bgr)
        sides = [name.removeprefix("left_") for name in clothing.limb_bgr if name.startswith("left_")]
        assert len(sides) == 9
        for part in sides:
            assert clothing.limb_bgr[f"left_{part}"] == clothing.limb_bgr[f"right_{part}"], (subject, part)
            assert limbs.limb_bgr[f"left_{part}"] != limbs.limb_bgr[f"right_{part}"], (subject, part)
        assert clothing.limb_bgr["left_upper_arm"] == clothing.shirt_bgr  # sleeves
        assert clothing.limb_bgr["left_thigh"] == clothing.pants_bgr
        caps = {c.part: c.bgr for c in body_capsules(_mirror_symmetric_pose(), clothing)}
        for name, part in PART_IDS.items():  # what is drawn is the table
            if name.startswith("left_"):
                assert caps[part] == caps[PART_IDS[name.replace("left_", "right_")]]
    assert make_appearance("S1", 0) == make_appearance("S1", 0, "limbs")  # limbs stays the default
    with pytest.raises(ValueError, match="unknown look 'plaid'"):
        make_appearance("S1", 0, "plaid")
