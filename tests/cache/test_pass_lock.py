"""The passes after the shards run one process at a time: two `capf extract` jobs that finish a store
together both run its joint-feature pass; the second waits for the first and finds the work done,
both exit 0, and the store equals one process's."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cache.pass_lock import PASS_LOCKS_DIR, exclusive_pass
from cache.store import FeatureStore
from tests.helpers import PROJECT_ROOT
from tests.stages.lift.lift_stores import make_store

# A process that imports everything, says so, then runs extraction's joint-feature pass on its cue
# (stdin), so the test can start the second exactly while the first is writing.
PASS_ON_CUE = """
import sys
from pathlib import Path
from stages.extract.runner import add_joint_feats
print("ready", flush=True)
sys.stdin.readline()
add_joint_feats(Path(sys.argv[1]), progress=False)
print("done", flush=True)
"""
HOLD_LOCK = """
import sys, time
from cache.pass_lock import exclusive_pass
with exclusive_pass(sys.argv[1], "joint_feat"):
    print("holding", flush=True)
    time.sleep(120)
"""


def _start(script: str, *args: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=PROJECT_ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() in ("ready", "holding"), process.stderr.read()
    return process


def _joint_feats(path: Path) -> dict[str, bytes]:
    store = FeatureStore.open(path)
    return {lv.name: np.asarray(store.group[f"joint_feat/{lv.name}"][...]).tobytes() for lv in store.levels}


@pytest.mark.slow
def test_two_processes_in_the_joint_feature_pass_at_once_both_finish_and_agree(tmp_path):
    from stages.lift.joint_feats import write_joint_feats

    # big enough that the first process is still writing when the second starts (about 2 s of pass)
    path = make_store(tmp_path / "s.zarr", num_frames=1536, shard_frames=64, levels=((4, 32), (8, 64))).path
    alone = shutil.copytree(path, tmp_path / "alone.zarr")
    write_joint_feats(alone, progress=False)

    first, second = _start(PASS_ON_CUE, str(path)), _start(PASS_ON_CUE, str(path))
    try:
        first.stdin.write("go\n")
        first.stdin.flush()
        deadline = time.time() + 60
        while not list(path.glob("joint_feat.tmp-*")) and time.time() < deadline and first.poll() is None:
            time.sleep(0.005)
        assert list(path.glob("joint_feat.tmp-*")), "the first process never started writing"
        second.stdin.write("go\n")  # the second arrives while the first writes its temporary group
        second.stdin.flush()
        outputs = [p.communicate(timeout=240) for p in (first, second)]
    finally:
        for process in (first, second):
            process.kill()
            process.wait(30)
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err[-3000:]
        assert "done" in out
    assert _joint_feats(path) == _joint_feats(alone)
    assert not list(path.glob("joint_feat.tmp-*"))


def _enters_within(seconds: float, store: Path, name: str) -> threading.Thread:
    """A thread that takes the lock and records it; joined for ``seconds``."""
    thread = threading.Thread(target=lambda: exclusive_pass(store, name).__enter__(), daemon=True)
    thread.start()
    thread.join(seconds)
    return thread


@pytest.mark.slow
def test_the_pass_lock_excludes_and_a_killed_holder_releases_it(tmp_path):
    holder = _start(HOLD_LOCK, str(tmp_path))
    try:
        assert not _enters_within(0.5, tmp_path, "flip_layout").is_alive()  # another pass: its own lock
        waiting = _enters_within(1.0, tmp_path, "joint_feat")
        assert waiting.is_alive(), "the lock let a second holder in"
        holder.kill()  # the kernel drops a dead process's flock: a killed job never blocks the others
        waiting.join(30)
        assert not waiting.is_alive()
    finally:
        holder.kill()
        holder.wait(30)
    assert (tmp_path / PASS_LOCKS_DIR / "joint_feat.lock").is_file()
