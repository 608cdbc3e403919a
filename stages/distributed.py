"""Where this process stands in a torchrun job, the one device choice, and the few collectives.

Used by extraction (ranks take disjoint shards), lifter training (DDP) and the benchmark. The
process group is joined with PyTorch's own stack (torchrun sets RANK/WORLD_SIZE/LOCAL_RANK;
NCCL on GPUs, gloo on CPU); the collectives are mmengine.dist's, which move tensors to the
backend's device and back (a CPU count can be summed under NCCL) and are no-ops in one process.
mmengine's ``init_dist`` is not used to join: it sets the CUDA device unconditionally and switches
multiprocessing to spawn, which would change every DataLoader's workers.

Without a group every method here is the identity or a no-op, so the one-process path runs
exactly the code it ran before any rank existed.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import mmengine.dist as mdist
import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn


class DistributedSetupError(ValueError):
    """A device choice that cannot work under the launched job (a user error, not a bug)."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when there is a GPU, else CPU; anything else as torch spells it."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as torchrun sets them; (0, 1) when not launched by torchrun."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


@contextmanager
def process_group():
    """Join torchrun's process group for the duration of a command (no-op for one process)."""
    _, world = rank_and_world()
    if world == 1 or torch_dist.is_initialized():
        yield
        return
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    torch_dist.init_process_group(backend=backend)
    try:
        yield
    finally:
        torch_dist.destroy_process_group()


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_world: int = 1  # processes on this machine (they share its cores and RAM)

    @classmethod
    def current(cls) -> "Ranks":
        rank, world = mdist.get_dist_info()
        return cls(rank, world, int(os.environ.get("LOCAL_WORLD_SIZE", world)) if world > 1 else 1)

    @property
    def main(self) -> bool:
        """Rank 0 writes every file (stores' layout, checkpoints, logs, reports); the others compute."""
        return self.rank == 0

    def device(self, device: str | torch.device = "auto") -> torch.device:
        """The device this rank runs on: its own GPU (the one ``process_group`` made current from
        LOCAL_RANK) for ``cuda``; NCCL cannot reduce CPU tensors, so CPU under NCCL is refused."""
        device = resolve_device(device)
        if self.world == 1:
            return device
        if device.type == "cuda":
            own = torch.cuda.current_device()
            if device.index is not None and device.index != own:
                raise DistributedSetupError(f"rank {self.rank} owns cuda:{own} (LOCAL_RANK) but was asked for "
                                            f"{device}; under torchrun pass --device cuda or auto")
            return torch.device("cuda", own)
        if mdist.get_backend() == "nccl":
            raise DistributedSetupError(f"the process group uses NCCL (GPUs present) but was asked to run "
                                        f"on {device}; pass --device cuda or auto")
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DistributedDataParallel around ``model`` (gradients averaged over ranks in backward); the
        model itself in one process. Every parameter is used in every forward: no unused-parameter search."""
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        mdist.barrier()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum of ``tensor`` over ranks (on every rank), as a new tensor on its device."""
        if self.world > 1:
            tensor = tensor.clone()
            mdist.all_reduce(tensor, op="sum")
        return tensor

    def sum_count(self, count: int) -> int:
        """Total of a per-rank count, so rank 0's summary speaks for the whole job."""
        return int(self.sum(torch.tensor([count], dtype=torch.int64)).item())

    def sum_array(self, array: np.ndarray) -> np.ndarray:
        """Sum of ``array`` over ranks, on every rank (exact where each row is filled by one rank)."""
        if self.world == 1:
            return array
        return self.sum(torch.from_numpy(np.ascontiguousarray(array))).numpy()

    def from_main(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if self.world == 1:
            return value
        box = [value]
        mdist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        return mdist.all_gather_object(value)
