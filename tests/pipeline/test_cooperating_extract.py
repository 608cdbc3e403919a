"""Independent `capf extract` processes on one store (array jobs): they share its shards through
claims, both exit 0, every shard is computed exactly once, and the store equals one process's."""

import re
import subprocess
import sys

import pytest

from cache.store import FeatureStore
from tests.helpers import PROJECT_ROOT, arrays_of, make_h36m_copy, slim_extract_config, write_config


@pytest.mark.slow
def test_two_extractions_started_together_fill_one_store(h36m_root, tmp_path):
    data = make_h36m_copy(h36m_root, tmp_path / "data", repeats=6)  # 24 real frames, 6 shards
    config = write_config(tmp_path / "extract.py", slim_extract_config(shard_frames=4, runtime={"batch_size": 2}))
    args = [sys.executable, "-m", "pipeline", "extract", "--config", str(config), "--data-root", str(data),
            "--random-init", "--quiet"]
    jobs = [subprocess.Popen([*args, "--cache-dir", str(tmp_path / "shared")], cwd=PROJECT_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [job.communicate(timeout=600) for job in jobs]
    for job, (out, err) in zip(jobs, outputs):
        assert job.returncode == 0, err
    written = [int(re.search(r"extracted (\d+) of 24 frames", out).group(1)) if "extracted" in out else 0
               for out, _ in outputs]
    assert sum(written) == 24, outputs  # no shard computed twice, none skipped

    single = subprocess.run([*args, "--cache-dir", str(tmp_path / "single")], cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    (shared,), (alone,) = (list((tmp_path / d).glob("*.zarr")) for d in ("shared", "single"))
    assert shared.name == alone.name and FeatureStore.open(shared).is_complete()
    assert arrays_of(shared) == arrays_of(alone)
    assert not list((shared / "claims").glob("*.claim"))  # every claim released
    verify = subprocess.run([sys.executable, "-m", "pipeline", "cache", "verify", str(shared)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert verify.returncode == 0 and "ok (" in verify.stdout, verify.stderr
