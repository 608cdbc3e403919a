"""Re-encode a complete fp16 store as int8 (or with another compression) without re-running the detector.

The extractor quantises the very fp16 maps it would otherwise store (``FeatureStore.write_shard``),
so converting an fp16 store shard by shard writes the same bytes an int8 extraction of the same
frames writes: a user with an fp16 cache gets the int8 one in minutes, and a comparison of the two
(the README's fp16 vs int8 study) trains on exactly the features extraction would give.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from cache.key import KeyInputs
from cache.quantize import FEATURE_DTYPES, SCALE_PREFIX
from cache.store import COMPRESSIONS, FeatureStore, StoreError, create_store, shard_array_names

_LAYOUT_ATTRS = ("schema_version", "key", "key_inputs", "spec", "created", "complete")


def converted_name(source: FeatureStore, key: str) -> str:
    """The source's readable name with the new key (``<dataset>-<detector>-<h>x<w>-<key>.zarr``)."""
    stem = source.path.name.removesuffix(".zarr")
    prefix = stem.rsplit("-", 1)[0] if stem.endswith(source.key) else stem
    return f"{prefix}-{key}.zarr"


def convert_store(source_path: Path, cache_dir: Path, *, feature_dtype: str = "int8",
                  compression: str | None = None, progress: bool = False) -> Path:
    """Write ``source_path``'s frames into a new store in ``cache_dir`` with ``feature_dtype`` (and
    ``compression``, default the source's); returns its path (an existing complete one is kept)."""
    if feature_dtype not in FEATURE_DTYPES:
        raise StoreError(f"feature dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    compression = compression or None
    source = FeatureStore.open(source_path)
    if source.spec.feature_dtype != "float16":
        raise StoreError(f"{source_path}: holds {source.spec.feature_dtype} codes; only fp16 stores are converted "
                         "(re-extract for another type)")
    spec = dataclasses.replace(source.spec, feature_dtype=feature_dtype,
                               compression=compression or source.spec.compression)
    if spec.compression not in COMPRESSIONS:
        raise StoreError(f"compression must be one of {COMPRESSIONS}, got {spec.compression!r}")
    key_inputs = KeyInputs(**{**source.attrs["key_inputs"], "feature_dtype": feature_dtype,
                              "input_size_wh": tuple(source.attrs["key_inputs"]["input_size_wh"])})
    target = Path(cache_dir) / converted_name(source, key_inputs.key())
    if target.exists() and FeatureStore.open(target, allow_incomplete=True).is_complete():
        return target
    written = set(shard_array_names(source.spec)) | {"done"}
    static, tables = {}, {}
    for name in _array_names(source):
        if name in written or name.startswith(SCALE_PREFIX):
            continue
        array = source.group[name]
        if name.startswith("index/") and "labels" in array.attrs:
            tables[name[len("index/"):]] = (np.asarray(array[...]), list(array.attrs["labels"]))
        else:
            static[name] = np.asarray(array[...])
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        attrs = {k: v for k, v in source.attrs.items() if k not in _LAYOUT_ATTRS}
        create_store(target, spec, key_inputs, static, tables, {**attrs, "converted_from": source.key})
    store = FeatureStore.open(target, mode="r+", allow_incomplete=True)
    from tqdm import tqdm

    for shard in tqdm(store.pending_shards(), desc=f"convert to {feature_dtype}", unit="shard", disable=not progress):
        start, stop = spec.shard_bounds(shard)
        store.write_shard(shard, {name: np.asarray(source.group[name][start:stop])
                                  for name in shard_array_names(source.spec)})
    store.mark_complete_if_done()
    return target


def _array_names(store: FeatureStore) -> list[str]:
    from cache.verify import walk_arrays

    return [name for name, _ in walk_arrays(store.group)]
