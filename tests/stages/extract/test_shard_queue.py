"""Claims between live and dead extraction processes: a process waiting for a live peer's shard takes
it over the moment that peer dies, and a flip pass killed with its claim left in ``claims_flip/`` is
finished by the next run, equal to an uninterrupted one."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from cache.claims import FLIP_CLAIMS_DIR, ShardClaims
from cache.store import FeatureStore
from stages.extract.runner import ExtractRequest, run_extraction
from stages.extract.shard_queue import ShardQueue
from tests.helpers import PROJECT_ROOT, slim_extract_config
from tests.stages.lift.lift_stores import make_store

HOLD = """
import sys, time
from cache.claims import ShardClaims
claims = ShardClaims(sys.argv[1], sys.argv[3])
assert claims.try_claim(int(sys.argv[2]))
print("claimed", flush=True)
time.sleep(120)
"""
CLAIM_AND_EXIT = "import sys; from cache.claims import ShardClaims; ShardClaims(sys.argv[1], sys.argv[3]).try_claim(int(sys.argv[2]))"


def _peer_holding(store_path, shard: int, folder: str = "claims") -> subprocess.Popen:
    peer = subprocess.Popen([sys.executable, "-c", HOLD, str(store_path), str(shard), folder], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert peer.stdout.readline().strip() == "claimed", peer.stderr.read()
    return peer


def _incomplete_store(tmp_path, pending: list[int]) -> FeatureStore:
    store = make_store(tmp_path / "s.zarr", num_frames=32, shard_frames=8)
    writable = FeatureStore.open(store.path, mode="r+", allow_incomplete=True)
    done = writable.group["done"]
    for shard in pending:
        done[shard] = False
    writable.group.attrs["complete"] = False
    return FeatureStore.open(store.path, mode="r+", allow_incomplete=True)


def _waiting_queue(store: FeatureStore) -> tuple[ShardQueue, threading.Thread, list[bool]]:
    """A queue that found nothing to claim (a live peer holds the pending shard), waiting for others
    in a thread; its answer lands in the list."""
    queue = ShardQueue(store, poll_seconds=0.05)
    assert list(queue.claim_round()) == []
    outcome: list[bool] = []
    waiter = threading.Thread(target=lambda: outcome.append(queue.wait_for_others()), daemon=True)
    waiter.start()
    waiter.join(0.5)
    assert waiter.is_alive(), "wait_for_others returned while a live peer held the shard"
    return queue, waiter, outcome


@pytest.mark.slow
def test_a_waiting_process_takes_over_the_shard_of_a_peer_that_dies(tmp_path):
    store = _incomplete_store(tmp_path, pending=[2])
    peer = _peer_holding(store.path, 2)
    try:
        queue, waiter, outcome = _waiting_queue(store)
        peer.kill()
        peer.wait(30)
        waiter.join(30)
        assert outcome == [True]  # a shard became claimable: run another round
        assert list(queue.claim_round()) == [2] and queue.claimed == [2]
        dead = queue.claims.taken_over
        assert len(dead) == 1 and dead[0].pid == peer.pid
        assert queue.claims.holder(2).pid != peer.pid
    finally:
        peer.kill()
        peer.wait(30)


@pytest.mark.slow
def test_a_waiting_process_stops_waiting_when_the_peer_finishes(tmp_path):
    store = _incomplete_store(tmp_path, pending=[1])
    peer = _peer_holding(store.path, 1)
    try:
        queue, waiter, outcome = _waiting_queue(store)
        store.group["done"][1] = True  # the peer flags its shard done (and is still alive)
        waiter.join(30)
        assert outcome == [False] and queue.claimed == []  # nothing left to do; the shard is not redone
    finally:
        peer.kill()
        peer.wait(30)


def _extract(cfg, data, cache_dir, **kwargs):
    return run_extraction(ExtractRequest(config=cfg, data_root=data, cache_dir=cache_dir, random_init=True,
                                         device="cpu", progress=False, **kwargs))


@pytest.mark.slow
def test_a_flip_pass_killed_with_its_claim_left_is_finished_by_the_next_run(h36m_copy, tmp_path):
    """The first run computes one flip shard and dies holding the claim of the next (a dead pid's
    claim in ``claims_flip/``); the rerun takes it over and the store equals an uninterrupted one."""
    cfg = slim_extract_config(shard_frames=4)  # 12 frames, 3 shards
    clean = _extract(cfg, h36m_copy, tmp_path / "clean", flip=True)
    assert clean.flip_complete

    partial = _extract(cfg, h36m_copy, tmp_path / "killed", flip=True, max_shards=4)  # 3 shards + 1 flip shard
    store = FeatureStore.open(partial.path, allow_incomplete=True)
    assert store.is_complete() and store.flip_done_mask().tolist() == [True, False, False]
    subprocess.run([sys.executable, "-c", CLAIM_AND_EXIT, str(partial.path), "1", FLIP_CLAIMS_DIR], check=True,
                   cwd=PROJECT_ROOT, timeout=120)
    dead = ShardClaims(partial.path, FLIP_CLAIMS_DIR).holder(1)
    assert dead is not None and not dead.is_alive()

    resumed = _extract(cfg, h36m_copy, tmp_path / "killed", flip=True)
    assert resumed.flip_complete and resumed.flip_frames_written == 8  # shards 1 and 2, nothing redone
    store, reference = FeatureStore.open(resumed.path), FeatureStore.open(clean.path)
    assert store.has_flip_features()
    for level in store.levels:
        for name in (f"feat/{level.name}", f"feat_flip/{level.name}"):
            assert np.array_equal(store.read(name), reference.read(name)), name
    assert not (resumed.path / FLIP_CLAIMS_DIR).exists()  # the finished pass dropped its claims
