"""Extraction forks its loader workers cleanly, even after a Runner left persistent loaders behind.

`make demo` trains the detector with mmengine's Runner in the same process; the Runner leaves its
persistent-worker DataLoader iterators as cyclic garbage. A worker forked while that garbage lives
inherits it, and when the child's collector finalises it the iterator's ``__del__`` runs outside
its parent: "Exception ignored in: _MultiProcessingDataLoaderIter.__del__ ... AssertionError: can
only test a child process". The script below recreates that state, makes every forked child
collect at once (``os.register_at_fork``, so the test does not depend on when a collection would
happen by itself), and runs a real extraction with one loader worker.
"""

import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT, SHARED_DATA, slim_extract_config

SCRIPT = """
import gc, json, multiprocessing, os, sys
from pathlib import Path
from torch.utils.data import DataLoader
from stages.extract.runner import ExtractRequest, run_extraction

class RunnerLike:  # mmengine's Runner and its loops reference each other
    pass

def leave_persistent_loaders_behind():
    runner = RunnerLike()
    runner.me = runner
    runner.loaders = [DataLoader(list(range(16)), batch_size=4, num_workers=1, persistent_workers=True)
                      for _ in range(2)]
    for loader in runner.loaders:
        for _ in loader:
            pass

gc.disable()  # no automatic collection in this process: the garbage lives until someone collects
leave_persistent_loaders_behind()
assert len(multiprocessing.active_children()) == 2
os.register_at_fork(after_in_child=gc.collect)  # every forked child finalises what it inherited
cfg, data_root, cache_dir = json.loads(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
result = run_extraction(ExtractRequest(cfg, data_root, cache_dir, random_init=True, device="cpu", progress=False))
print("complete" if result.complete else "incomplete", len(multiprocessing.active_children()))
"""


@pytest.mark.slow
def test_no_loader_finaliser_runs_in_a_forked_worker(tmp_path):
    import json

    cfg = slim_extract_config(shard_frames=2, runtime={"num_workers": 1, "batch_size": 2})
    run = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(cfg), str(SHARED_DATA / "h36m"),
                          str(tmp_path / "cache")], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Exception ignored" not in run.stderr and "can only test a child process" not in run.stderr, run.stderr
    assert run.stdout.split() == ["complete", "0"]  # the left-behind workers were shut down, by their parent
