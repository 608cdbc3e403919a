"""The synthetic writer's output is read by the same Human3.6M source as the real sample."""

import numpy as np

from stages.extract.sources import build_source
from stages.synth.writer import write_synthetic_h36m


def test_synthetic_dataset_passes_through_the_h36m_source(tmp_path):
    root = tmp_path / "synth"
    write_synthetic_h36m(root, n_train=6, n_test=4, seed=3, image_size=(200, 200), progress=False)
    index = build_source({"type": "h36m", "annotation": ["train_h36m_body3d.npz", "test_h36m_body3d.npz"]},
                         root).frame_index()
    train, test = np.load(root / "train_h36m_body3d.npz"), np.load(root / "test_h36m_body3d.npz")
    assert len(index) == 10
    np.testing.assert_allclose(index.gt3d_mm, np.concatenate([train["S"], test["S"]])[..., :3] * 1000, rtol=1e-6)
    codes, labels = index.index_tables["subject"]
    assert {labels[c] for c in codes[6:]} <= {"S9", "S11"} and {labels[c] for c in codes[:6]}.isdisjoint({"S9", "S11"})
    assert index.image_sizes_wh.tolist() == [[200, 200]] * 10
    # the intrinsics the source reads project its camera-frame ground truth onto its 2D ground truth
    fx, fy, cx, cy = (index.camera[:, k:k + 1] for k in range(4))
    x = index.gt3d_mm[..., 0] / index.gt3d_mm[..., 2] * fx + cx
    y = index.gt3d_mm[..., 1] / index.gt3d_mm[..., 2] * fy + cy
    assert np.hypot(x - index.gt2d_px[..., 0], y - index.gt2d_px[..., 1]).max() < 0.5
