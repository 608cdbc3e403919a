"""`make bench ARGS=--quick`: the command a user runs writes every figure the README promises, each a
real measurement (finite, positive), and the figures hold the relations that make them what they
claim: each ratio is the quotient of the two speeds recorded beside it, int8 maps take half the bytes
of fp16 ones, compression only shrinks, the FLOPs ratio is against the paper's 609.9 M."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.helpers import PROJECT_ROOT
from tests.stages.lift.test_cost import FULL_W32_FLOPS, FULL_W32_PARAMS


def positive_numbers(value, where: str) -> list[str]:
    """Paths inside `value` that are not finite positive numbers (dicts are walked)."""
    if isinstance(value, dict):
        if not value:
            return [f"{where}: empty"]
        return [bad for key, inner in value.items() for bad in positive_numbers(inner, f"{where}.{key}")]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return [f"{where}: {value!r} is not a number"]
    return [] if math.isfinite(value) and value > 0 else [f"{where}: {value!r}"]


@pytest.mark.slow
def test_bench_quick_writes_every_readme_figure(tmp_path):
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "pipeline", "bench", "--quick", "--out", str(out),
                          "--work", str(tmp_path / "work"), "--device", "cpu"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=540,
                         env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"written: {out}" in run.stdout
    results = json.loads(out.read_text())
    # the README's keys: extract_vs_forward, loader_vs_memory (per worker count), cache_read_vs_memmap
    # (per reader), bytes_per_frame_ratio (per codec), flops_per_frame, params, device, plus absolute
    for key in ("extract_vs_forward", "loader_vs_memory", "cache_read_vs_memmap", "bytes_per_frame_ratio",
                "flops_per_frame", "params", "device", "absolute"):
        assert key in results, key
    assert set(results["loader_vs_memory"]) == {"1", "2"}  # --quick: 1 and 2 workers
    assert {"mmap", "tensorstore", "zarr"} <= set(results["cache_read_vs_memmap"]), results["cache_read_vs_memmap"]
    assert set(results["bytes_per_frame_ratio"]) == {"none", "blosc-zstd", "int8-none", "int8-blosc-zstd"}
    bad = [problem for key in ("extract_vs_forward", "loader_vs_memory", "cache_read_vs_memmap",
                               "bytes_per_frame_ratio", "flops_per_frame", "params", "absolute")
           for problem in positive_numbers(results[key], key)]
    assert not bad, bad
    assert isinstance(results["device"], str) and results["device"].startswith("cpu")
    # the benchmark counts the same model as `capf flops` and the cost tests
    assert results["flops_per_frame"] == FULL_W32_FLOPS and results["params"] == FULL_W32_PARAMS
    # compression can only shrink the bytes; uncompressed is the raw fp16 plus the shard index
    assert results["bytes_per_frame_ratio"]["blosc-zstd"] < 1 <= results["bytes_per_frame_ratio"]["none"] < 1.01
    for figure in ("extraction end to end / forward alone", "training lazy (1 workers)", "FLOPs per frame"):
        assert figure in run.stdout, figure

    absolute = results["absolute"]
    assert results["extract_vs_forward"] == pytest.approx(absolute["extract_fps"] / absolute["forward_fps"])
    for workers, ratio in results["loader_vs_memory"].items():
        assert ratio == pytest.approx(absolute["train_lazy_sps"][workers] / absolute["train_memory_sps"][workers])
    reads = absolute["reads_fps"]
    for reader, ratio in results["cache_read_vs_memmap"].items():
        assert ratio == pytest.approx(reads[f"{reader}_fps"] / reads["memmap_fps"])
    sizes = results["bytes_per_frame_ratio"]
    assert 0.45 < sizes["int8-none"] / sizes["none"] < 0.6  # one byte per value plus 8 B of scales per channel
    assert results["flops_vs_paper"] == pytest.approx(results["flops_per_frame"] / 609.9e6)
    # the lifter through onnxruntime vs torch on the CPU (its `capf export` graph, same threads)
    onnx = results["onnx_vs_torch_lifter"]
    assert not positive_numbers(onnx, "onnx_vs_torch_lifter") and onnx["threads"] == 2
    assert "torch / onnxruntime time per frame" in run.stdout
