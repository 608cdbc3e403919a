"""Finding a config's store by its key: no detector is built and an unchanged checkpoint is not re-hashed."""

from __future__ import annotations

import pytest
import torch

from cache import key as key_module
from pipeline.stores import resolve_store
from stages.detector import topdown
from stages.extract.runner import ExtractRequest, run_extraction
from tests.helpers import SLIM_DETECTOR, slim_extract_config


@pytest.fixture(scope="module")
def slim_checkpoint(tmp_path_factory):
    """A real mmpose checkpoint of the slim HRNet (seeded random weights saved like a zoo file)."""
    detector = topdown.TopdownDetector(SLIM_DETECTOR, None, random_init=True, seed=3)
    path = tmp_path_factory.mktemp("ckpt") / "slim.pth"
    torch.save({"state_dict": detector.model.state_dict(), "meta": {}}, path)
    return path


def test_a_cache_hit_builds_no_detector_and_hashes_no_checkpoint(h36m_root, tmp_path, slim_checkpoint, monkeypatch):
    cfg = slim_extract_config(shard_frames=2)
    extracted = run_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path,
                                              checkpoint=slim_checkpoint, device="cpu", progress=False))
    assert extracted.complete and not extracted.cache_hit

    def forbidden(*args, **kwargs):
        raise AssertionError("finding a store must not do this")

    monkeypatch.setattr(topdown.TopdownDetector, "__init__", forbidden)
    monkeypatch.setattr(key_module, "sha256_file", forbidden)  # the memo answers for the unchanged file
    found = resolve_store(cfg, store=None, data_root=h36m_root, cache_dir=tmp_path, checkpoint=slim_checkpoint,
                          random_init=False, quiet=True)
    assert found == extracted.path


def test_a_changed_checkpoint_is_hashed_again_and_misses(h36m_root, tmp_path, slim_checkpoint, monkeypatch):
    cfg = slim_extract_config(shard_frames=2)
    run_extraction(ExtractRequest(config=cfg, data_root=h36m_root, cache_dir=tmp_path, checkpoint=slim_checkpoint,
                                  device="cpu", progress=False, max_shards=0))  # lays out an incomplete store
    changed = tmp_path / "changed.pth"
    state = torch.load(slim_checkpoint, weights_only=True)
    state["state_dict"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["state_dict"].items()}
    torch.save(state, changed)
    from stages.extract.plan import plan_extraction

    before = plan_extraction(ExtractRequest(cfg, h36m_root, tmp_path, checkpoint=slim_checkpoint))
    after = plan_extraction(ExtractRequest(cfg, h36m_root, tmp_path, checkpoint=changed))
    assert before.path != after.path and before.complete_store() is None  # incomplete: not a hit
