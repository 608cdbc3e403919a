"""torchrun integration: rank/world from the environment and one process group per run.

PyTorch's own stack (torchrun launches, NCCL on GPUs, gloo on CPU); nothing home-made.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch
import torch.distributed as dist


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as torchrun sets them; (0, 1) when not launched by torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


@contextmanager
def process_group():
    """Join torchrun's process group for the duration of a command (no-op for one process)."""
    _, world = rank_and_world()
    if world == 1 or dist.is_initialized():
        yield
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend=backend)
    try:
        yield
    finally:
        dist.destroy_process_group()
