"""Depth cues of the renderer: occlusion order, perspective thickness, brighter when nearer."""

import numpy as np

from stages.synth.cameras import look_at_rotation, world_to_camera
from stages.synth.pose_sampler import PARAMS, pose_from_params
from stages.synth.render import (
    PART_IDS,
    Capsule,
    body_capsules,
    default_light,
    draw_capsules,
    make_appearance,
    render_frame,
)
from stages.synth.skeleton import subject_bone_lengths

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
