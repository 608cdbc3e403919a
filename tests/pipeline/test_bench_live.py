"""The bench figures of live latency and the two mended ones: extraction end to end / forward alone
cannot exceed 1, and the verified shard reader, its chunks checked once, does the unverified one's work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cache.store import FeatureStore
from pipeline.bench import bench_cache_reads, bench_extraction, bench_live, synthetic_w32_store
from stages.live.latency import STAGES


@pytest.mark.slow
def test_live_latency_has_every_stage_at_p50_and_p95_and_a_ratio_to_the_forward_alone(tmp_path):
    torch.set_num_threads(1)
    live = bench_live(quick=True, device="cpu", demo_dir=tmp_path / "no_demo")
    assert set(live) == {"hrnet_w32+capf"}  # no demo here: the paper-size models only
    figures = live["hrnet_w32+capf"]
    assert set(figures["stages_ms"]) == set(STAGES) and figures["frames"] == 3
    for stage in ("boxes", "crop", "detector", "lifter", "output"):
        assert 0 < figures["stages_ms"][stage]["p50"] <= figures["stages_ms"][stage]["p95"], stage
    # a frame runs the detector twice (the carried box's look, then the features) plus everything else
    assert figures["live_vs_detector"] > 1.5
    assert figures["frame_ms"]["p50"] > figures["stages_ms"]["detector"]["p50"] + figures["stages_ms"]["lifter"]["p50"]
    assert 0 < figures["glue_vs_detector"] < figures["live_vs_detector"]


@pytest.mark.slow
def test_extraction_end_to_end_cannot_beat_its_own_forward(tmp_path):
    extract = bench_extraction(tmp_path, frames=8, batch_size=4, workers=1, device="cpu")
    assert 0 < extract["ratio"] <= 1.0
    assert extract["extract_fps"] <= extract["forward_fps"]


def test_once_its_chunks_are_checked_the_verified_reader_does_the_unverified_readers_work(tmp_path, monkeypatch):
    """What the bench's steady-state figure rests on: after a first pass, a verified read calls no
    check at all (one bitmap lookup per batch), so it does exactly the unverified reader's copies.
    (The figure itself, verified / unverified frames/s, is noise-bound on a shared machine.)"""
    from cache.checksum import ChunkVerifier

    store = synthetic_w32_store(tmp_path / "w32.zarr", frames=128, shard_frames=32)
    verified = FeatureStore.open(store).reader("0", "mmap", verify=True)
    plain = FeatureStore.open(store).reader("0", "mmap", verify=False)
    first = verified.read(np.arange(128))
    assert verified.verifier.chunks_checked == 128
    calls = []
    monkeypatch.setattr(ChunkVerifier, "check", lambda self, frame, chunk: calls.append(frame))
    frames = np.sort(np.random.default_rng(0).choice(128, 64, replace=False))
    np.testing.assert_array_equal(verified.read(frames), plain.read(frames))
    np.testing.assert_array_equal(verified.read(frames), first[frames])
    assert calls == []

    reads = bench_cache_reads(store, tmp_path / "memmap", batch=32, batches=4)
    assert {"mmap", "mmap_unverified", "tensorstore", "zarr"} <= set(reads["ratios"])
    assert reads["verified_vs_unverified"] > 0 and reads["first_read_verified_vs_unverified"] > 0
