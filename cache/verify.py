"""Integrity check of a store: read every chunk so the crc32c codec checks each one."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import zarr

from cache.listing import flip_state
from cache.store import FeatureStore


@dataclass
class VerifyReport:
    """What `verify_store` found; `ok` only when every chunk decoded and the store is complete."""

    path: Path
    chunks_read: int = 0
    errors: list[str] = field(default_factory=list)
    complete: bool = False
    flip: str = "no"  # the feat_flip maps (cache.listing.flip_state); their chunks are verified like the rest

    @property
    def ok(self) -> bool:
        return not self.errors and self.complete


def walk_arrays(group: zarr.Group, prefix: str = ""):
    # claims/ and claims_flip/ live while an extraction runs; claims_pass/ holds the passes' lock files
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Object at claims(_flip|_pass)? is not recognized")
        members = list(group.members())
    for name, member in members:
        if isinstance(member, zarr.Group):
            yield from walk_arrays(member, f"{prefix}{name}/")
        else:
            yield f"{prefix}{name}", member


def verify_store(path: Path) -> VerifyReport:
    """Decode every chunk of every array; a checksum mismatch or unreadable chunk becomes an error
    naming the array and frame range, so a user knows which shard to re-extract."""
    store = FeatureStore.open(path, allow_incomplete=True)
    report = VerifyReport(path=Path(path), complete=store.is_complete(), flip=flip_state(store))
    for name, array in walk_arrays(store.group):
        step = array.chunks[0]
        for start in range(0, array.shape[0], step):
            stop = min(start + step, array.shape[0])
            try:
                np.asarray(array[start:stop])
                report.chunks_read += 1
            except Exception as error:  # zarr raises various types for a corrupt chunk
                report.errors.append(f"{path}/{name}[{start}:{stop}]: {type(error).__name__}: {error}")
    return report
