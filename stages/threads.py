"""A fixed torch thread count for the runs whose numbers are quoted: the demo's closed loop and the
studies on its store.

torch's CPU kernels split their work by the number of intra-op threads, and a reduction split in
other places rounds differently: the same seed trained with 1 and with 2 threads gives detector
weights that differ in the last bits, which move the decoded 2D joints and, through them, every
number after (measured on the toy loop). The thread count follows the machine (its cores,
``OMP_NUM_THREADS``, a caller's ``torch.set_num_threads``), so a run that must give the same numbers
everywhere fixes it; a machine with fewer cores gives the same numbers, only slower. (CPUs with
other vector units, e.g. without AVX-512, may still round differently: docs/reproducibility.md.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

REPRODUCIBLE_THREADS = 2  # the development machines' cores: the published demo numbers were made so


@contextlib.contextmanager
def fixed_torch_threads(count: int = REPRODUCIBLE_THREADS) -> Iterator[None]:
    """Run the body with ``count`` intra-op threads, then restore the caller's count."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
