"""The zarr v3 feature store: layout, creation, shard-wise resumable writes, and opening for reads.

Layout (one store per content key; see DESIGN.md "The cache contract"):

    feat/<l>     (N, C_l, H_l, W_l) float16  inner chunk = 1 frame, shard = `shard_frames` frames
                 (uint8 codes when `spec.feature_dtype == "int8"`, see cache/quantize.py)
    feat_scale/<l> (N, C_l, 2) float32       int8 stores only: (offset, step) per frame and channel
    kp2d         (N, J, 2) float32           2D joints in image pixels (the configured 2D source)
    kp2d_input   (N, J, 2) float32           the same joints in detector-input pixels
    score        (N, J) float32              joint confidence
    det_kp2d     (N, 17, 2) float32          the detector's own COCO-17 joints in image pixels
    affine       (N, 2, 3) float32           image -> detector-input transform of the crop
    bbox         (N, 4) float32              person box (x1, y1, x2, y2) in image pixels
    image_size   (N, 2) int32                (width, height)
    gt3d, gt2d, camera                       (N,17,3) mm camera frame, (N,17,2) px, (N,9) fx fy cx cy k1 k2 k3 p1 p2
    index/<name> (N,) int32                  codes into the string table in the array's `labels` attribute
    done         (N_shards,) bool            set only after every array of the shard is written
    feat_flip/<l>  like feat/<l>             optional (`capf extract --flip`): the detector's maps of the
                                             horizontally mirrored crop, in the mirrored crop's pixel frame
    feat_flip_scale/<l>                      int8 stores only: the flip maps' (offset, step), like feat_scale
    flip_done    (N_shards,) bool            the flip pass's own per-shard flags (`flip_complete` attribute)

The flip arrays are a second, independent pass over the same frames: they never touch the arrays
above, the key does not change, and `complete` ignores them (a store without them, or with an
unfinished flip pass, is as complete as before; only ``has_flip_features()`` says no).

Every array carries a crc32c checksum per chunk, so `verify` catches flipped bytes. Per-frame arrays
other than `feat/*` use one chunk per shard, so writers of disjoint shards never touch the same file.
The store is created under a temporary name and renamed into place, so a reader never sees a store
without its full metadata; it is `complete` only once every shard is done. The `spec` attribute
(`StoreSpec`: frames, shard size, levels with strides and shapes, joints, joint format, input size,
compression) is the one record of the layout; readers (cache/readers.py) decode the shards it describes.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import zarr
import zarr.codecs as codecs
import zarr.errors

from cache.claims import CLAIMS_DIR, FLIP_CLAIMS_DIR
from cache.key import SCHEMA_VERSION, KeyInputs
from cache.quantize import quantize_uint8, scale_array_name, storage_dtype

if TYPE_CHECKING:
    from cache.readers import FrameReader

COMPRESSIONS = ("none", "blosc-zstd")
FLIP_PREFIX = "feat_flip"
QUANTIZATION_NOTE = ("uint8 codes, affine per (frame, channel): x = offset + step * code, (offset, step) "
                     "in feat_scale/<l>")


class StoreError(RuntimeError):
    """A store is missing, incomplete, corrupt or does not match what the caller expects."""


@dataclass(frozen=True)
class LevelSpec:
    """One feature level: its name in `feat/`, stride in input pixels, and map shape."""

    name: str
    stride: int
    channels: int
    height: int
    width: int


@dataclass(frozen=True)
class StoreSpec:
    """What the writer needs to lay out a store before any frame is processed."""

    num_frames: int
    shard_frames: int
    levels: tuple[LevelSpec, ...]
    num_joints: int
    joint_format: str  # "coco17" (the detector's joints) or "h36m17" (external detections)
    input_size_wh: tuple[int, int]  # the detector's input (crop) size: where kp2d_input and the maps live
    compression: str = "none"
    feature_dtype: str = "float16"  # or "int8" (cache/quantize.py); part of the content key

    @property
    def num_shards(self) -> int:
        return -(-self.num_frames // self.shard_frames)

    def shard_bounds(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_frames
        return start, min(start + self.shard_frames, self.num_frames)


def _compressors(compression: str) -> list:
    if compression == "none":
        return [codecs.Crc32cCodec()]
    if compression == "blosc-zstd":
        return [codecs.BloscCodec(cname="zstd", clevel=1, shuffle="bitshuffle"), codecs.Crc32cCodec()]
    raise StoreError(f"unknown compression {compression!r}; choose one of {COMPRESSIONS}")


def chunk_compressors(compression: str) -> list:
    """The codecs after ``bytes`` of every chunk of a store with this compression (for derived arrays)."""
    return _compressors(compression)


def _per_frame_arrays(spec: StoreSpec) -> dict[str, tuple[tuple[int, ...], str]]:
    """Arrays written by the detector stage, shard by shard: name -> (per-frame shape, dtype)."""
    joints = spec.num_joints
    return {
        "kp2d": ((joints, 2), "float32"),
        "kp2d_input": ((joints, 2), "float32"),
        "score": ((joints,), "float32"),
        "det_kp2d": ((17, 2), "float32"),
        "affine": ((2, 3), "float32"),
    }


def flip_array_name(level: str, scales: bool = False) -> str:
    """``feat_flip/<l>`` (the mirrored crop's maps) or, with ``scales``, ``feat_flip_scale/<l>``."""
    return f"{FLIP_PREFIX}_scale/{level}" if scales else f"{FLIP_PREFIX}/{level}"


def _create_feature_arrays(group: zarr.Group, spec: StoreSpec, prefix: str) -> None:
    """``<prefix>/<l>`` maps (and ``<prefix>_scale/<l>`` of an int8 store), one frame per inner
    chunk inside shards of ``spec.shard_frames`` frames: the one layout of every map array.
    Arrays already there are kept (a flip layout interrupted halfway is completed)."""
    n, shard = spec.num_frames, spec.shard_frames
    compressors = _compressors(spec.compression)
    quantized = spec.feature_dtype != "float16"
    for level in spec.levels:
        if f"{prefix}/{level.name}" not in group:
            group.create_array(
                f"{prefix}/{level.name}",
                shape=(n, level.channels, level.height, level.width),
                chunks=(1, level.channels, level.height, level.width),
                shards=(shard, level.channels, level.height, level.width),
                dtype=storage_dtype(spec.feature_dtype),
                compressors=compressors,
                fill_value=0,
                attributes={"stride": level.stride, "channels": level.channels,
                            **({"quantization": QUANTIZATION_NOTE.replace("feat_scale", f"{prefix}_scale")}
                               if quantized else {})},
            )
        if quantized and f"{prefix}_scale/{level.name}" not in group:  # one frame's scales: one small chunk
            group.create_array(f"{prefix}_scale/{level.name}", shape=(n, level.channels, 2),
                               chunks=(1, level.channels, 2), shards=(shard, level.channels, 2), dtype="float32",
                               compressors=compressors, fill_value=0,
                               attributes={"of": f"{prefix}/{level.name}", "columns": ["offset", "step"]})


def shard_array_names(spec: StoreSpec) -> list[str]:
    """Names a shard write must provide (everything the detector produces)."""
    return [f"feat/{level.name}" for level in spec.levels] + list(_per_frame_arrays(spec))


def create_store(
    path: Path,
    spec: StoreSpec,
    key_inputs: KeyInputs,
    static_arrays: dict[str, np.ndarray],
    index_tables: dict[str, tuple[np.ndarray, list[str]]],
    attrs: dict,
) -> Path:
    """Lay out a new store at `path` atomically and write the arrays known before extraction.

    static_arrays: name -> (N, ...) values from the frame index (bbox, image_size, gt3d, ...).
    index_tables: name -> (codes (N,), labels) for `index/<name>`.
    If another process created the same store first, its store is kept and this one discarded.
    """
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}-{time.time_ns()}")
    group = zarr.open_group(tmp, mode="w")
    n, shard = spec.num_frames, spec.shard_frames
    # the small per-frame arrays: one chunk per shard, but never longer than the store (zarr writes
    # whole edge chunks, so a 4-frame store with shards of 256 held 64x the bytes it needs)
    frames_per_chunk = max(1, min(shard, n))
    compressors = _compressors(spec.compression)
    _create_feature_arrays(group, spec, "feat")
    for name, (shape, dtype) in _per_frame_arrays(spec).items():
        group.create_array(name, shape=(n, *shape), chunks=(frames_per_chunk, *shape), dtype=dtype,
                           compressors=compressors, fill_value=0)
    for name, values in static_arrays.items():
        values = np.ascontiguousarray(values)
        array = group.create_array(name, shape=values.shape, chunks=(frames_per_chunk, *values.shape[1:]),
                                   dtype=values.dtype, compressors=compressors, fill_value=0)
        array[...] = values
    for name, (values, labels) in index_tables.items():
        array = group.create_array(f"index/{name}", shape=(n,), chunks=(frames_per_chunk,), dtype="int32",
                                   compressors=compressors, fill_value=0,
                                   attributes={"labels": list(labels)})
        array[...] = np.asarray(values, dtype=np.int32)
    group.create_array("done", shape=(spec.num_shards,), chunks=(1,), dtype="bool",
                       compressors=compressors, fill_value=False)
    group.attrs.update({
        **attrs,
        "schema_version": SCHEMA_VERSION,
        "key": key_inputs.key(),
        "key_inputs": key_inputs.to_dict(),
        "spec": {**asdict(spec), "levels": [asdict(level) for level in spec.levels]},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "complete": False,
    })
    try:
        os.rename(tmp, path)
    except OSError:
        if not path.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)  # lost a creation race: the winner's store is the same
    return path


def copy_store(source: "FeatureStore", path: Path, *, compression: str,
               feature_dtype: str | None = None) -> "FeatureStore":
    """A complete copy of ``source`` with another compression: the same values in other bytes (what
    `make bench` compares sizes with). Static and index arrays are carried over too, and complete
    ``feat_flip`` maps. With
    ``feature_dtype='int8'`` an fp16 source's maps are quantised on the way (new values, so a new
    key; cache/convert.py)."""
    if feature_dtype not in (None, source.spec.feature_dtype) and source.spec.feature_dtype != "float16":
        raise StoreError(f"{source.path}: holds {source.spec.feature_dtype} codes; only fp16 stores convert")
    spec = replace(source.spec, compression=compression, feature_dtype=feature_dtype or source.spec.feature_dtype)
    static = {name: source.read(name) for name in ("bbox", "image_size", "gt3d", "gt2d", "camera", "index/frame")
              if source.has(name)}
    index_names = sorted(source.group["index"].array_keys()) if source.has("index") else []
    tables = {name: (source.read(f"index/{name}"), source.labels(name))  # every label table (3DHP has 7)
              for name in index_names if name != "frame"}
    create_store(path, spec, KeyInputs(**{**source.attrs["key_inputs"], "feature_dtype": spec.feature_dtype,
                                          "input_size_wh": tuple(source.attrs["key_inputs"]["input_size_wh"])}),
                 static, tables, attrs={k: v for k, v in source.attrs.items() if k in ("detector", "detector_config",
                                                                                  "random_init", "pixel_convention")}
                 | {"copied_from": str(source.path)})
    copy = FeatureStore.open(path, mode="r+", allow_incomplete=True)
    for shard in range(spec.num_shards):
        start, stop = spec.shard_bounds(shard)
        copy.write_shard(shard, {name: np.asarray(source.group[name][start:stop]) for name in shard_array_names(spec)})
    copy.mark_complete_if_done()
    if source.has_flip_features():  # the mirrored crops' maps travel too (quantised alike)
        copy.add_flip_arrays()
        for shard in range(spec.num_shards):
            start, stop = spec.shard_bounds(shard)
            copy.write_flip_shard(shard, {f"feat/{level.name}": np.asarray(
                source.group[flip_array_name(level.name)][start:stop]) for level in spec.levels})
        copy.mark_flip_complete_if_done()
    return FeatureStore.open(path)


class FeatureStore:
    """An opened store: attributes, layout and the zarr arrays (writes go shard by shard)."""

    def __init__(self, path: Path, group: zarr.Group):
        self.path = Path(path)
        self.group = group
        self.attrs = dict(group.attrs)
        spec = dict(self.attrs["spec"])
        spec["levels"] = tuple(LevelSpec(**level) for level in spec["levels"])
        spec["input_size_wh"] = tuple(int(v) for v in spec["input_size_wh"])
        self.spec = StoreSpec(**spec)

    @classmethod
    def open(cls, path: Path, *, mode: str = "r", allow_incomplete: bool = False) -> "FeatureStore":
        """Open a store; refuse an incomplete one unless `allow_incomplete` (writers resume them)."""
        path = Path(path)
        if not (path / "zarr.json").is_file():
            raise StoreError(f"{path}: not a feature store (no zarr.json)")
        try:
            group = zarr.open_group(path, mode=mode)
            store = cls(path, group)
        except (KeyError, TypeError, ValueError) as error:
            raise StoreError(f"{path}: unreadable store metadata ({error})") from error
        if store.attrs.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(f"{path}: schema version {store.attrs.get('schema_version')} "
                             f"!= {SCHEMA_VERSION}; re-run `capf extract`")
        if not allow_incomplete and not store.is_complete():
            done = int(np.count_nonzero(store.done_mask()))
            raise StoreError(f"{path}: incomplete store ({done}/{store.spec.num_shards} shards done); "
                             "re-run `capf extract` to finish it")
        return store

    @property
    def key(self) -> str:
        return self.attrs["key"]

    @property
    def num_frames(self) -> int:
        return self.spec.num_frames

    @property
    def levels(self) -> tuple[LevelSpec, ...]:
        return self.spec.levels

    def done_mask(self) -> np.ndarray:
        return np.asarray(self.group["done"][:], dtype=bool)

    def pending_shards(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.done_mask())]

    def is_shard_done(self, shard: int) -> bool:
        """One shard's flag, read fresh from disk (one small chunk, not the whole mask)."""
        return bool(self.group["done"][shard])

    def is_complete(self) -> bool:
        return bool(self.attrs.get("complete")) and bool(self.done_mask().all())

    def write_shard(self, shard: int, arrays: dict[str, np.ndarray]) -> None:
        """Write every detector array of one shard, then mark it done (the order is the guarantee:
        a shard killed mid-write stays not-done and is rewritten whole on resume)."""
        if self.done_mask()[shard]:
            raise StoreError(f"{self.path}: shard {shard} is already done; done shards are never rewritten")
        missing = set(shard_array_names(self.spec)) - set(arrays)
        if missing:
            raise StoreError(f"{self.path}: shard {shard} write lacks {sorted(missing)}")
        start, stop = self.spec.shard_bounds(shard)
        for name, values in self.encode_features(arrays).items():
            self.group[name][start:stop] = values
        self.group["done"][shard] = True

    def encode_features(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The arrays as stored: ``feat/<l>`` maps (B, C, H, W) become uint8 codes plus
        ``feat_scale/<l>`` (B, C, 2) in an int8 store (quantised here, once, on the CPU: the same
        bytes whichever process writes the shard); unchanged otherwise."""
        if self.spec.feature_dtype == "float16":
            return arrays
        out = {}
        for name, values in arrays.items():
            if name.startswith("feat/"):
                out[name], out[scale_array_name(name[len("feat/"):])] = quantize_uint8(values)
            else:
                out[name] = values
        return out

    @property
    def feature_dtype(self) -> str:
        return self.spec.feature_dtype

    def mark_complete_if_done(self) -> bool:
        """Set `complete` once every shard is done (any rank may call it; it is idempotent) and drop
        the extractors' `claims/` folder, which only matters while shards are pending."""
        if self.done_mask().all():
            self.group.attrs["complete"] = True
            self.attrs["complete"] = True
            shutil.rmtree(self.path / CLAIMS_DIR, ignore_errors=True)
            return True
        return False

    # --- the flip pass (`capf extract --flip`): feat_flip/<l>, its own done flags and claims ---

    def add_flip_arrays(self) -> None:
        """Lay out ``feat_flip/<l>`` (+ scales) and ``flip_done`` if absent; the arrays above are not
        touched. Two processes racing here both end with the same empty arrays (zarr refuses the
        second creation, which is then ignored)."""
        if self.has("flip_done"):
            return
        group = zarr.open_group(self.path, mode="r+")
        try:  # flip_done last: its presence means the layout is whole
            _create_feature_arrays(group, self.spec, FLIP_PREFIX)
            group.create_array("flip_done", shape=(self.spec.num_shards,), chunks=(1,), dtype="bool",
                               compressors=_compressors(self.spec.compression), fill_value=False)
        except (zarr.errors.ContainsArrayError, zarr.errors.ContainsGroupError):
            pass  # another process is laying them out at the same moment: the same empty arrays
        self.group = zarr.open_group(self.path, mode="r+")

    def flip_done_mask(self) -> np.ndarray:
        """(N_shards,) bool: shards whose flip maps are written (all False before the first flip pass)."""
        if not self.has("flip_done"):
            return np.zeros(self.spec.num_shards, dtype=bool)
        return np.asarray(self.group["flip_done"][:], dtype=bool)

    def pending_flip_shards(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(~self.flip_done_mask())]

    def is_flip_shard_done(self, shard: int) -> bool:
        return self.has("flip_done") and bool(self.group["flip_done"][shard])

    def has_flip_features(self) -> bool:
        """True when every shard's ``feat_flip`` maps are written and the pass was marked complete:
        only then may a reader use them (an unfinished flip pass leaves the rest of the store usable)."""
        return bool(self.attrs.get("flip_complete")) and bool(self.flip_done_mask().all())

    def write_flip_shard(self, shard: int, maps: dict[str, np.ndarray]) -> None:
        """Write one shard's mirrored-crop maps (``feat/<l>`` names as the detector returns them,
        stored as ``feat_flip/<l>``, quantised like the maps in an int8 store), then flag it done."""
        if self.flip_done_mask()[shard]:
            raise StoreError(f"{self.path}: flip shard {shard} is already done; done shards are never rewritten")
        missing = {f"feat/{level.name}" for level in self.levels} - set(maps)
        if missing:
            raise StoreError(f"{self.path}: flip shard {shard} write lacks {sorted(missing)}")
        start, stop = self.spec.shard_bounds(shard)
        encoded = self.encode_features({f"feat/{level.name}": maps[f"feat/{level.name}"] for level in self.levels})
        for name, values in encoded.items():
            level = name.split("/", 1)[1]
            self.group[flip_array_name(level, scales=name.startswith("feat_scale/"))][start:stop] = values
        self.group["flip_done"][shard] = True

    def mark_flip_complete_if_done(self) -> bool:
        """Set ``flip_complete`` once every flip shard is done and drop the flip pass's claims."""
        if self.has("flip_done") and self.flip_done_mask().all():
            self.group.attrs["flip_complete"] = True
            self.attrs["flip_complete"] = True
            shutil.rmtree(self.path / FLIP_CLAIMS_DIR, ignore_errors=True)
            return True
        return False

    def read(self, name: str) -> np.ndarray:
        """A whole (small) array: kp2d, gt3d, index codes, ..."""
        return np.asarray(self.group[name][...])

    def labels(self, index_name: str) -> list[str]:
        return list(self.group[f"index/{index_name}"].attrs["labels"])

    def has(self, name: str) -> bool:
        return name in self.group

    def reader(self, level: str, kind: str = "auto", *, verify: bool = True, scales: bool = False,
               flip: bool = False) -> "FrameReader":
        """Random-access frames of ``feat/<level>`` (or, with ``scales``, of an int8 store's
        ``feat_scale/<level>``; with ``flip``, of ``feat_flip/<level>`` / ``feat_flip_scale/<level>``) through the fastest reader its layout allows (cache/readers.py);
        ``verify``: check each chunk's crc32c once per run. The reader opens files lazily, so it can
        be handed to forked workers."""
        from cache.readers import open_reader

        if not self.has(f"feat/{level}"):
            raise StoreError(f"{self.path}: no feature level {level!r} (it has {[lv.name for lv in self.levels]})")
        if flip:
            name = flip_array_name(level, scales=scales)
        else:
            name = scale_array_name(level) if scales else f"feat/{level}"
        if not self.has(name):
            raise StoreError(f"{self.path}: no {name} (a {self.spec.feature_dtype} store has no scales)")
        return open_reader(self.path / name, kind, verify=verify)

    def size_on_disk(self) -> int:
        """Bytes of every file in the store; files that vanish meanwhile (another process removing
        the finished store's `claims/`) are skipped."""
        total = 0
        for folder, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    pass
        return total
