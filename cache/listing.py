"""Listing the stores of a cache directory (`capf cache ls`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cache.store import FeatureStore, StoreError


@dataclass(frozen=True)
class StoreSummary:
    key: str
    name: str
    frames: int
    levels: str  # "0:s4 1:s8 ..."
    size_bytes: int
    complete: bool
    note: str = ""
    flip: str = "no"  # feat_flip maps of the mirrored crops: "yes", "k/n" shards of an unfinished pass, or "no"


def flip_state(store: FeatureStore) -> str:
    """"yes" when the store has complete ``feat_flip`` maps, "k/n" while a flip pass is unfinished, else "no"."""
    if store.has_flip_features():
        return "yes"
    if store.has("flip_done"):
        return f"{int(store.flip_done_mask().sum())}/{store.spec.num_shards}"
    return "no"


def list_stores(cache_dir: Path) -> list[StoreSummary]:
    """One summary per `*.zarr` store under cache_dir; unreadable ones are listed with the reason."""
    rows = []
    for path in sorted(Path(cache_dir).glob("*.zarr")):
        try:
            store = FeatureStore.open(path, allow_incomplete=True)
        except StoreError as error:
            rows.append(StoreSummary("?", path.name, 0, "", 0, False, str(error)))
            continue
        levels = " ".join(f"{level.name}:s{level.stride}" for level in store.levels)
        rows.append(StoreSummary(store.key, path.name, store.num_frames, levels,
                                 store.size_on_disk(), store.is_complete(), flip=flip_state(store)))
    return rows
