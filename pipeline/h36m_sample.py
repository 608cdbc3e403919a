"""Small datasets built from the real Human3.6M sample (benchmarks and tests need more than 4 frames)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data beside the project


def replicate_h36m_sample(source: Path, out: Path, repeats: int, seed: int = 0) -> Path:
    """An mmpose-layout Human3.6M root with `4 * repeats` frames: the real frames under new frame
    numbers, box centres jittered by up to 8 px so every crop differs. Real pixels, real labels."""
    ann = dict(np.load(Path(source) / "test_h36m_body3d.npz"))
    rng = np.random.default_rng(seed)
    names, rows = [], []
    for r in range(repeats):
        for i, name in enumerate(ann["imgname"]):
            stem, number = name.rsplit("_", 1)
            new = f"{stem}_{int(number.split('.')[0]) + 1000 * r:06d}.jpg"
            (out / new).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(source) / name, out / new)
            names.append(new)
            rows.append(i)
    arrays = {k: ann[k][rows] for k in ("center", "scale", "part", "S")}
    arrays["center"] = arrays["center"] + rng.uniform(-8, 8, arrays["center"].shape)
    np.savez(out / "test_h36m_body3d.npz", imgname=np.array(names), **arrays)
    shutil.copyfile(Path(source) / "cameras.pkl", out / "cameras.pkl")
    return out
