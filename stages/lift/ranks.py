"""Where this process stands in a torchrun job, and the few collectives lifter training needs.

Training joins no group itself: the command (``pipeline.distributed.process_group``) does, with
PyTorch's own stack (gloo on CPU, NCCL on GPUs). Without a group every method here is the identity
or a no-op, so the one-process path runs exactly the code it ran before DDP existed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


class DistributedSetupError(ValueError):
    """A device choice that cannot work under the launched job (a user error, not a bug)."""


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_world: int = 1  # processes on this machine (they share its cores and RAM)

    @classmethod
    def current(cls) -> "Ranks":
        if not (dist.is_available() and dist.is_initialized()):
            return cls()
        world = dist.get_world_size()
        return cls(dist.get_rank(), world, int(os.environ.get("LOCAL_WORLD_SIZE", world)))

    @property
    def main(self) -> bool:
        """Rank 0 writes every file (checkpoints, logs, reports); the others only compute."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """The device this rank trains on: its own GPU (the one ``process_group`` made current from
        LOCAL_RANK) for ``cuda``; NCCL cannot reduce CPU tensors, so CPU under NCCL is refused."""
        if self.world == 1:
            return device
        if device.type == "cuda":
            own = torch.cuda.current_device()
            if device.index is not None and device.index != own:
                raise DistributedSetupError(f"rank {self.rank} owns cuda:{own} (LOCAL_RANK) but was asked for "
                                            f"{device}; under torchrun pass --device cuda or auto")
            return torch.device("cuda", own)
        if dist.get_backend() == "nccl":
            raise DistributedSetupError(f"the process group uses NCCL (GPUs present) but training was asked to run "
                                        f"on {device}; pass --device cuda or auto")
        return device

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """DistributedDataParallel around ``model`` (gradients averaged over ranks in backward); the
        model itself in one process. Every parameter is used in every forward, so no unused-parameter
        search."""
        if self.world == 1:
            return model
        return nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum of ``tensor`` over ranks (on every rank); ``tensor`` must be on the training device."""
        if self.world > 1:
            tensor = tensor.clone()
            dist.all_reduce(tensor)
        return tensor

    def sum_to_main(self, array: np.ndarray, device: torch.device) -> np.ndarray:
        """Sum of ``array`` over ranks, valid on rank 0 (others get their own array back)."""
        if self.world == 1:
            return array
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
        dist.reduce(tensor, dst=0)
        return tensor.cpu().numpy() if self.main else array

    def from_main(self, value):
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if self.world == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's ``value``, in rank order, on every rank."""
        if self.world == 1:
            return [value]
        values: list = [None] * self.world
        dist.all_gather_object(values, value)
        return values
