"""The demo's closed loop is a function of its seed: two separate processes, one on one thread and one
on two, run the toy-size loop (synthetic data -> the detector trained with mmengine's Runner ->
extraction -> a full CA-PF trained on the store) and end with bit-identical data, detector weights,
store arrays and lifter weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT

# Prints sha256 digests of every artefact of one toy-size loop (argv: work dir, torch threads).
TOY_LOOP = """
import hashlib, json, sys
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[2]))
from pipeline.demo import DemoSettings, prepare_demo_cache
from pipeline.model_records import train_and_record
from cache.store import FeatureStore
from cache.verify import walk_arrays

def weights(path):
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    return hashlib.sha256(b"".join(k.encode() + v.cpu().numpy().tobytes() for k, v in sorted(state.items()))).hexdigest()

work = Path(sys.argv[1])
settings = DemoSettings(world="limbs", work_dir=work, train_frames=24, test_frames=12, detector_epochs=1,
                        lift_epochs=2, flip=False)
cache = prepare_demo_cache(settings)
record = train_and_record("step3_full", "configs/demo/step3_full.py", cache.store_path, work, cache.store_key, epochs=2)
data = work / "synth_h36m"
out = {"threads": torch.get_num_threads(),
       "data": hashlib.sha256(b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file()
                                       and p.name != "meta.json")).hexdigest(),
       "detector": weights(next((work / "detector").glob("*.pth"))),
       "store": {name: hashlib.sha256(np.asarray(array[...]).tobytes()).hexdigest()
                 for name, array in walk_arrays(FeatureStore.open(cache.store_path).group)},
       "lifter": weights(Path(record["run_dir"]) / "best.pth"),
       "mpjpe": record["mpjpe"]}
print("RESULT " + json.dumps(out), flush=True)
"""


def _toy_loop(work, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    run = subprocess.run([sys.executable, "-c", TOY_LOOP, str(work), str(threads)], cwd=PROJECT_ROOT, env=env,
                         capture_output=True, text=True, timeout=800)
    assert run.returncode == 0, run.stderr[-3000:]
    (line,) = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    return json.loads(line[len("RESULT "):])


@pytest.mark.slow
# two toy-size closed loops (detector training, extraction, lifter training) in turn: about 3 min each
# on a quiet 2-core machine, 6 on a loaded one
@pytest.mark.timeout(1800)
def test_the_toy_loop_is_bit_identical_across_processes_and_thread_counts(tmp_path):
    one = _toy_loop(tmp_path / "one", threads=1)
    two = _toy_loop(tmp_path / "two", threads=2)
    assert (one["threads"], two["threads"]) == (1, 2)
    for step in ("data", "detector", "store", "lifter"):
        assert one[step] == two[step], f"{step} differs between the runs"
    assert one["mpjpe"] == two["mpjpe"]
