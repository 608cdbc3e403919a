"""The stores a study reads: the demo's cache of a world, or the same frames with the authors' crop.

Both are made by the demo's own steps where missing (synth -> detector -> extract, each a cache hit
when done) with the detector's maps of the mirrored crops (``feat_flip``, a second pass that leaves
the store's key and first-pass arrays alone), so ``flip_features='auto'`` reads the maps the real
detector produces on every store a study compares.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

STORE_KINDS = {"demo": None, "authors_crop": {"crop": "authors"}, "int8": None}  # kind -> frame-source overrides


def study_store_for(settings, kind: str) -> tuple[Path, str]:
    """(path, key) of the store ``kind`` for the world of ``settings``, made (with flips) if needed."""
    from cache.convert import convert_store
    from cache.store import FeatureStore
    from pipeline.demo import prepare_demo_cache

    if kind not in STORE_KINDS:
        raise ValueError(f"store kind must be one of {sorted(STORE_KINDS)}, got {kind!r}")
    cache = prepare_demo_cache(replace(settings, flip=True), STORE_KINDS[kind])
    if kind != "int8":
        return cache.store_path, cache.store_key
    path = convert_store(cache.store_path, cache.store_path.parent, feature_dtype="int8")  # a hit once made
    return path, FeatureStore.open(path).key
