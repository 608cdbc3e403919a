"""Per-shard claims between independent processes: one winner per shard, stale claims taken over."""

import json
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cache.claims import Claim, ShardClaims

CLAIM_AND_EXIT = "import sys; from cache.claims import ShardClaims; ShardClaims(sys.argv[1]).try_claim(int(sys.argv[2]))"


def _claim_all(store: str, shards: int, start, results) -> None:
    start.wait(60)
    claims = ShardClaims(Path(store))
    results.put((os.getpid(), [s for s in range(shards) if claims.try_claim(s)]))


@pytest.mark.slow
def test_racing_processes_win_each_shard_exactly_once(tmp_path):
    context = multiprocessing.get_context("fork")
    start, results = context.Event(), context.Queue()
    workers = [context.Process(target=_claim_all, args=(str(tmp_path), 40, start, results)) for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    won = dict(results.get(timeout=60) for _ in workers)
    for worker in workers:
        worker.join(timeout=60)
    every = sorted(s for shards in won.values() for s in shards)
    assert every == list(range(40))  # each shard won by exactly one process
    for pid, shards in won.items():
        assert all(ShardClaims(tmp_path).holder(s).pid == pid for s in shards)


@pytest.mark.slow
def test_a_dead_process_claim_is_taken_over(tmp_path):
    subprocess.run([sys.executable, "-c", CLAIM_AND_EXIT, str(tmp_path), "3"], check=True, cwd=Path.cwd(),
                   timeout=120)
    claims = ShardClaims(tmp_path)
    dead = claims.holder(3)
    assert dead is not None and dead.pid != os.getpid() and not dead.is_alive()
    assert claims.try_claim(3)
    assert claims.holder(3).pid == os.getpid() and claims.taken_over == [dead]
    claims.release(3)
    assert claims.holder(3) is None and not (tmp_path / "claims" / "3.claim").exists()


@pytest.mark.slow
def test_a_live_claim_is_respected_until_its_process_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", CLAIM_AND_EXIT + "; import time; time.sleep(60)",
                               str(tmp_path), "1"])
    try:
        claims = ShardClaims(tmp_path)
        deadline = time.time() + 30
        while claims.holder(1) is None and time.time() < deadline:
            time.sleep(0.05)
        assert not claims.try_claim(1)
        assert set(claims.live_holders([0, 1, 2])) == {1}
        claims.release(1)  # not ours: nothing happens
        assert claims.holder(1).pid == holder.pid
    finally:
        holder.kill()
        holder.wait(60)
    assert claims.try_claim(1)


def test_a_recycled_pid_does_not_keep_a_claim_alive(tmp_path):
    claims = ShardClaims(tmp_path)
    parent = Claim.mine(0)
    # the parent process is alive, but it started long after this claim says its holder did
    recycled = {**parent.__dict__, "shard": 5, "pid": os.getppid(), "started": parent.time - 10 * 365 * 86400}
    (tmp_path / "claims" / "5.claim").write_text(json.dumps(recycled))
    assert not claims.holder(5).is_alive()
    assert claims.try_claim(5)


def test_claims_of_other_hosts_are_never_taken_over(tmp_path):
    claims = ShardClaims(tmp_path)
    remote = {"shard": 2, "host": socket.gethostname() + "-elsewhere", "pid": 2**22 + 12345, "time": time.time(),
              "started": None}
    (tmp_path / "claims" / "2.claim").write_text(json.dumps(remote))
    assert claims.holder(2).is_alive()
    assert not claims.try_claim(2)
