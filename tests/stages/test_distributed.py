"""The one device choice and the one-process identities of the distributed layer."""

from __future__ import annotations

import numpy as np
import torch

from stages.distributed import Ranks, rank_and_world, resolve_device


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")


def test_one_process_is_the_identity(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ranks = Ranks.current()
    assert (ranks.rank, ranks.world, ranks.main) == (0, 1, True) and rank_and_world() == (0, 1)
    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert ranks.sum_array(values) is values and ranks.sum_count(7) == 7
    assert ranks.from_main({"a": 1}) == {"a": 1} and ranks.gather(3) == [3]
    model = torch.nn.Linear(2, 2)
    assert ranks.wrap(model, torch.device("cpu")) is model and ranks.device("cpu") == torch.device("cpu")
    ranks.barrier()
