"""Helpers shared by tests: small datasets built from the real sample, extract configs."""

from __future__ import annotations

import pickle
from pathlib import Path

from pipeline.h36m_sample import SHARED_DATA, replicate_h36m_sample  # noqa: F401  (SHARED_DATA: re-exported for tests)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SLIM_DETECTOR = "configs/detectors/hrnet_slim_128x96.py"


def make_h36m_copy(h36m_root: Path, out: Path, repeats: int = 1) -> Path:
    """An mmpose-layout H36M root of `4 * repeats` real frames (see pipeline.h36m_sample)."""
    return replicate_h36m_sample(h36m_root, out, repeats)


def slim_extract_config(shard_frames: int = 4, **overrides) -> dict:
    """Extract config dict with the slim HRNet (fast on CPU) and small shards."""
    cfg = {
        "detector": {"name": "hrnet_slim", "config": SLIM_DETECTOR, "seed": 0, "flip_test": False},
        "dataset": {"type": "h36m", "name": "h36m", "annotation": "test_h36m_body3d.npz"},
        "kp2d": {"source": "detector"},
        "cache": {"shard_frames": shard_frames, "compression": "none"},
        "runtime": {"batch_size": 4, "num_workers": 0, "device": "cpu"},
    }
    for section, values in overrides.items():
        cfg[section] = {**cfg.get(section, {}), **values}
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    """A Python config file (mmengine style) holding cfg's sections."""
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in cfg.items()))
    return path


def mpii_headed_checkpoint(path: Path) -> Path:
    """The slim detector's weights with a 16-joint heatmap head, as if an MPII checkpoint were given
    to a COCO-17 config: every tensor is there, two have the wrong shape."""
    import torch

    from stages.detector.topdown import TopdownDetector

    state = TopdownDetector(SLIM_DETECTOR, None, random_init=True).model.state_dict()
    for name in ("head.final_layer.weight", "head.final_layer.bias"):
        state[name] = state[name][:16].clone()
    torch.save({"state_dict": state, "meta": {}}, path)
    return path


def cameras(h36m_root: Path) -> dict:
    with open(h36m_root / "cameras.pkl", "rb") as handle:
        return pickle.load(handle)


def arrays_of(path: Path) -> dict[str, bytes]:
    """Every array of a complete store as raw bytes (for byte-identity checks)."""
    from cache.store import FeatureStore

    store = FeatureStore.open(path)
    names = [f"feat/{lv.name}" for lv in store.levels] + ["kp2d", "kp2d_input", "score", "det_kp2d", "affine",
                                                        "bbox", "gt3d", "done"]
    return {name: store.read(name).tobytes() for name in names}


def write_small_3dhp(out: Path, seed: int = 1) -> Path:
    """A small synthetic MPI-INF-3DHP in both layouts (16 train frames, 18 test frames over TS1-TS6,
    about 85 % valid; 256x256 studio and 240x135 outdoor frames)."""
    from stages.synth.mpi3dhp import write_synthetic_3dhp

    write_synthetic_3dhp(out, n_train=16, n_test=18, seed=seed, image_scale=0.125, progress=False)
    return out


SYNTH_3DHP_MMPOSE = {"type": "mpi_inf_3dhp", "layout": "mmpose", "activities": "mpi_inf_3dhp_test_set"}
SYNTH_3DHP_OFFICIAL = {"type": "mpi_inf_3dhp", "layout": "official"}  # data root: <synth>/mpi_inf_3dhp_test_set
