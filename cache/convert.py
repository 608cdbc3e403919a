"""Re-encode a complete fp16 store as int8 without re-running the detector (`capf cache convert`).

The extractor quantises the very fp16 maps it would otherwise store (``FeatureStore.write_shard``),
so converting an fp16 store shard by shard writes the same bytes an int8 extraction of the same
frames writes (tested): a user with an fp16 cache gets the int8 one in minutes, and the README's
fp16 vs int8 study trains on exactly the features an int8 extraction would give.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cache.key import KeyInputs
from cache.quantize import FEATURE_DTYPES
from cache.store import COMPRESSIONS, FeatureStore, StoreError, copy_store


def converted_name(source: FeatureStore, key: str) -> str:
    """The source's readable name with the new key (``<dataset>-<detector>-<h>x<w>-<key>.zarr``)."""
    stem = source.path.name.removesuffix(".zarr")
    prefix = stem.rsplit("-", 1)[0] if stem.endswith(source.key) else stem
    return f"{prefix}-{key}.zarr"


def convert_store(source_path: Path, cache_dir: Path, *, feature_dtype: str = "int8",
                  compression: str | None = None) -> Path:
    """The store of ``source_path``'s frames with ``feature_dtype`` (and ``compression``, default the
    source's) in ``cache_dir``; an existing complete one is kept, an unfinished one redone."""
    if feature_dtype not in FEATURE_DTYPES:
        raise StoreError(f"feature dtype must be one of {FEATURE_DTYPES}, got {feature_dtype!r}")
    source = FeatureStore.open(source_path)
    compression = compression or source.spec.compression
    if compression not in COMPRESSIONS:
        raise StoreError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    key = KeyInputs(**{**source.attrs["key_inputs"], "feature_dtype": feature_dtype,
                       "input_size_wh": tuple(source.attrs["key_inputs"]["input_size_wh"])}).key()
    target = Path(cache_dir) / converted_name(source, key)
    if target.exists():
        if FeatureStore.open(target, allow_incomplete=True).is_complete():
            return target
        shutil.rmtree(target)  # a conversion killed midway: cheap to redo
    target.parent.mkdir(parents=True, exist_ok=True)
    return copy_store(source, target, compression=compression, feature_dtype=feature_dtype).path
