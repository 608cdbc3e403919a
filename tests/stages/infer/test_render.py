"""The side-by-side picture: fixed 3D axes (motion is motion, not rescaling) and 2D drawn on the frame."""

import numpy as np

from stages.infer.outputs import Predictions
from stages.infer.render import SkeletonPanel, draw_2d


def _pose(scale: float = 1.0) -> np.ndarray:
    pose = np.zeros((17, 3))
    pose[:, 1] = -np.linspace(0, 1700, 17) * scale  # standing: y points down in the camera frame
    pose[:, 0] = np.linspace(-200, 200, 17)
    return pose


def test_the_3d_panel_keeps_its_axes_and_size_while_poses_change():
    panel = SkeletonPanel(160, max_people=2)
    a = panel.draw(_pose()[None], np.array([0]))
    limits = (panel.axes.get_xlim(), panel.axes.get_ylim(), panel.axes.get_zlim())
    b = panel.draw(np.stack([_pose(0.6), _pose()]), np.array([3, 1]))
    assert a.shape == b.shape == (160, 160, 3) and a.dtype == np.uint8
    assert (panel.axes.get_xlim(), panel.axes.get_ylim(), panel.axes.get_zlim()) == limits
    assert panel.axes.get_zlim() == (0, 2000) and panel.axes.get_xlim()[1] == 1600  # 1 m + 1.2 m / 2
    assert not np.array_equal(a, b)


def test_2d_drawing_scales_boxes_and_joints_to_the_panel_height():
    image = np.zeros((200, 100, 3), np.uint8)
    kp2d = np.tile(np.array([[50.0, 100.0]]), (17, 1))
    preds = Predictions(frame=np.array([0]), track=np.array([0]), box=np.array([[10, 20, 90, 180]], np.float32),
                        box_score=np.ones(1, np.float32), kp2d=kp2d[None].astype(np.float32),
                        kp2d_score=np.ones((1, 17), np.float32), kp3d_mm=_pose()[None].astype(np.float32))
    out = draw_2d(image, preds, np.array([0]), 100)
    assert out.shape == (100, 50, 3)
    assert out[50, 25].max() == 255  # the joints, at (25, 50) once halved
    assert out[10, 5:45].max() > 0 and image.max() == 0  # the box's top edge; the input is untouched
