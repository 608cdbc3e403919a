"""Random-access readers of one `feat/<l>` array of a feature store: frames in, `(B, C, H, W)` fp16 out.

The store's layout (cache/store.py) is one frame per inner chunk inside shards of many frames.
Measured on the 2-core dev machine (HRNet-W32 levels, 2048 frames = 368,640 B/frame, warm page
cache, shuffled sorted batches of 512, all four levels, other jobs sharing the cores):
zarr-python 3.1 ~120 frames/s, tensorstore's zarr3 driver 1,400-2,700, ``ShardMmapReader``
6,000-13,000, a raw ``np.memmap`` of the same data 8,000-10,000. So the hot path decodes the zarr
shards itself when their codecs allow it:

* ``ShardMmapReader`` (``"mmap"``): inner codecs ``bytes`` [+ ``blosc``] [+ ``crc32c``], index at the
  end (what cache/store.py writes, compressed or not). It reads each shard's index once and copies
  (or blosc-decodes) each requested frame straight out of a memory map into the output: one pass,
  no intermediate buffers, fork-safe. Each chunk's crc32c is checked the first time this run reads
  it (``cache.checksum.ChunkVerifier``: a bitmap shared by forked workers), and each shard index's
  when the shard is mapped, so a flipped bit stops training with one line naming the array and
  frame instead of being trained on; ``verify=False`` skips the chunk checks. Index entries and
  chunk sizes are checked when a shard is first mapped, so a foreign layout fails loudly instead of
  returning garbage. Uncompressed is the fast path: blosc-zstd decoding ran at ~850 frames/s per
  core on random features (tensorstore ~1,900 on two threads). float16 maps, the uint8 codes of an
  int8 store and their float32 scales are all read this way.
* ``TensorstoreReader`` (``"tensorstore"``): any zarr3 array; parallel inside one process (its
  zarr3 driver checks crc32c itself).
* ``ZarrReader`` (``"zarr"``): zarr-python, the reference the others are tested against.

``open_reader(path, kind="auto")`` picks mmap when the metadata allows it, else tensorstore.
Readers open files lazily and pickle without them, so each DataLoader worker maps its own.
"""

from __future__ import annotations

import json
import mmap
import os
import resource
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from cache.checksum import ChunkChecksumError, ChunkVerifier, crc32c, store_of

READER_KINDS = ("auto", "mmap", "tensorstore", "zarr")
_MISSING = np.uint64(2**64 - 1)  # shard-index entry of a chunk that was never written
MMAP_DTYPES = {"float16": np.float16, "uint8": np.uint8, "float32": np.float32}
# inner codec chains the mmap reader decodes itself: raw bytes, or blosc (self-describing header)
_INNER_CODECS = (["bytes"], ["bytes", "crc32c"], ["bytes", "blosc"], ["bytes", "blosc", "crc32c"])


class FrameReader(Protocol):
    shape: tuple[int, ...]  # (N, C, H, W)

    def read(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Frames `(B,)` (sorted ascending reads fastest) -> `(B, C, H, W)` in the array's dtype
        (float16 maps, or uint8 codes of an int8 store), into `out` if given."""


def _metadata(path: Path) -> dict:
    return json.loads((Path(path) / "zarr.json").read_text())


def mmap_layout_problem(meta: dict) -> str | None:
    """Why ``ShardMmapReader`` cannot read an array with this zarr.json, or None if it can."""
    if meta.get("data_type") not in MMAP_DTYPES:
        return f"data type {meta.get('data_type')}"
    codecs = meta.get("codecs", [])
    if len(codecs) != 1 or codecs[0].get("name") != "sharding_indexed":
        return "not a sharded array"
    conf = codecs[0]["configuration"]
    if conf.get("index_location", "end") != "end":
        return "shard index not at the end"
    inner = [c["name"] for c in conf["codecs"]]
    index = [c["name"] for c in conf["index_codecs"]]
    if inner not in _INNER_CODECS or index not in (["bytes"], ["bytes", "crc32c"]):
        return f"codecs {inner} / index codecs {index}"
    if any(c.get("configuration", {}).get("endian", "little") != "little"
           for c in conf["codecs"] + conf["index_codecs"] if c["name"] == "bytes"):
        return "big-endian bytes"
    if conf["chunk_shape"][0] != 1 or list(conf["chunk_shape"][1:]) != list(meta["shape"][1:]):
        return f"inner chunk {conf['chunk_shape']} is not one whole frame"
    key = meta.get("chunk_key_encoding", {})
    if key.get("name") != "default" or key.get("configuration", {}).get("separator", "/") != "/":
        return f"chunk key encoding {key}"
    return None


def _raise_fd_limit() -> int:
    """Lift this process's soft open-file limit to the hard one (each mapped shard holds an fd)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class ShardMmapReader:
    """Copy frames out of memory-mapped, uncompressed zarr shards (see the module docstring).

    At most ``max_open`` shard files stay mapped (least recently used are closed), bounded by the
    open-file limit, so a store with tens of thousands of shards works in every worker.
    """

    def __init__(self, path: Path, max_open: int | None = None, verify: bool = True):
        self.path = Path(path)
        meta = _metadata(self.path)
        problem = mmap_layout_problem(meta)
        if problem:
            raise ValueError(f"{self.path}: the mmap reader cannot read this array ({problem})")
        conf = meta["codecs"][0]["configuration"]
        self.shape = tuple(int(v) for v in meta["shape"])
        self.dtype = np.dtype(MMAP_DTYPES[meta["data_type"]])
        self.shard_frames = int(meta["chunk_grid"]["configuration"]["chunk_shape"][0])
        self.frame_bytes = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        inner = [c["name"] for c in conf["codecs"]]
        self._chunk_trailer = 4 if inner[-1] == "crc32c" else 0
        self.compressed = "blosc" in inner
        self._index_trailer = 4 if [c["name"] for c in conf["index_codecs"]][-1] == "crc32c" else 0
        # made here, before loader workers fork, so they share what has been verified
        self.verifier = ChunkVerifier(self.path, self.shape[0]) if verify and self._chunk_trailer else None
        self._tail = "/0" * (len(self.shape) - 1)
        self.max_open = max_open
        self._open: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.shards_opened = 0  # counters for tests and benchmarks
        self.frames_copied = 0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_open"] = OrderedDict()  # maps do not cross process boundaries
        return state

    def _shard(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        entry = self._open.get(shard)
        if entry is not None:
            self._open.move_to_end(shard)
            return entry
        if self.max_open is None:
            self.max_open = max(64, _raise_fd_limit() - 1024)
        while len(self._open) >= self.max_open:
            self._open.popitem(last=False)  # the map closes once its numpy view is gone
        file = self.path / f"c/{shard}{self._tail}"
        with open(file, "rb") as handle:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        data = np.frombuffer(mapped, dtype=np.uint8)
        frames_here = min(self.shard_frames, self.shape[0] - shard * self.shard_frames)
        index_bytes = 16 * self.shard_frames
        index = data[len(data) - index_bytes - self._index_trailer: len(data) - self._index_trailer]
        if self.verifier is not None and self._index_trailer and len(data) >= index_bytes + 4 and (
                crc32c(index) != int(data[-4:].view("<u4")[0])):
            raise ChunkChecksumError(f"{file}: the shard index of frames {shard * self.shard_frames}-"
                                     f"{shard * self.shard_frames + frames_here - 1} fails its crc32c check; run "
                                     f"`capf cache verify {store_of(self.path)}` to list every bad chunk")
        index = index.view("<u8").reshape(self.shard_frames, 2)[:frames_here].copy()
        written = index[:, 0] != _MISSING
        sizes = index[written, 1]
        bad_size = (sizes <= self._chunk_trailer) if self.compressed else (sizes != self.frame_bytes + self._chunk_trailer)
        if np.any(bad_size) or np.any(index[written, 0] + sizes > len(data)):
            raise ValueError(f"{file}: shard index does not describe {self.shape[1:]} {self.dtype} frames")
        self._open[shard] = (data, index)
        self.shards_opened += 1
        return data, index

    def read(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        frames = np.asarray(frames, dtype=np.int64)
        if out is None:
            out = np.empty((len(frames), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(frames), -1).view(np.uint8)
        shards, within = np.divmod(frames, self.shard_frames)
        # one vectorised bitmap lookup per batch: once every chunk is checked, the check costs nothing per frame
        unchecked = self.verifier.unverified(frames) if self.verifier is not None else np.zeros(len(frames), bool)
        for k in range(len(frames)):
            data, index = self._shard(int(shards[k]))
            offset, size = (int(v) for v in index[within[k]])
            if offset == _MISSING:
                flat[k] = 0  # never-written chunk = the array's fill value
                continue
            if unchecked[k]:
                self.verifier.check(int(frames[k]), data[offset: offset + size])
            if self.compressed:
                self._decompress(data[offset: offset + size - self._chunk_trailer], flat[k])
            else:
                flat[k] = data[offset: offset + self.frame_bytes]
        self.frames_copied += len(frames)
        return out

    def _decompress(self, chunk: np.ndarray, dest: np.ndarray) -> None:
        from numcodecs import blosc

        if int(chunk[4:8].view("<u4")[0]) != self.frame_bytes:  # blosc header: uncompressed size
            raise ValueError(f"{self.path}: a blosc chunk does not hold one {self.shape[1:]} {self.dtype} frame")
        blosc.decompress(chunk, dest)

    def close(self) -> None:
        self._open.clear()


class TensorstoreReader:
    """tensorstore's zarr3 driver: any codec chain; batched reads run on its own thread pool."""

    def __init__(self, path: Path, concurrency: int = 4):
        self.path = Path(path)
        self.concurrency = concurrency
        self.shape = tuple(int(v) for v in _metadata(self.path)["shape"])
        self._array = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def _open(self):
        import tensorstore as ts

        context = ts.Context({"data_copy_concurrency": {"limit": self.concurrency},
                              "file_io_concurrency": {"limit": self.concurrency},
                              "cache_pool": {"total_bytes_limit": 0}})
        spec = {"driver": "zarr3", "kvstore": {"driver": "file", "path": str(self.path.resolve())}}
        self._array = ts.open(spec, read=True, context=context).result()
        return self._array

    def read(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        array = self._array or self._open()
        values = array[np.asarray(frames, dtype=np.int64)].read().result()
        if out is None:
            return values
        out[...] = values
        return out


class ZarrReader:
    """zarr-python: correct for any layout, ~1 ms per chunk (the reference in tests)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.shape = tuple(int(v) for v in _metadata(self.path)["shape"])
        self._array = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_array": None}

    def read(self, frames: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        import zarr

        if self._array is None:
            self._array = zarr.open_array(self.path, mode="r")
        values = self._array.get_orthogonal_selection((np.asarray(frames, dtype=np.int64),))
        if out is None:
            return values
        out[...] = values
        return out


def open_reader(path: Path, kind: str = "auto", verify: bool = True) -> FrameReader:
    """A reader for the array at `path` (a store's `feat/<l>` or `feat_scale/<l>` folder).

    kind: ``"auto"`` (mmap when the layout allows it, else tensorstore), ``"mmap"``,
    ``"tensorstore"`` or ``"zarr"``. verify: check each chunk's crc32c once per run (the mmap
    reader; zarr-python and tensorstore always check).
    """
    if kind not in READER_KINDS:
        raise ValueError(f"reader must be one of {READER_KINDS}, got {kind!r}")
    if kind == "auto":
        kind = "mmap" if mmap_layout_problem(_metadata(Path(path))) is None else "tensorstore"
    if kind == "mmap":
        return ShardMmapReader(path, verify=verify)
    if kind == "tensorstore":
        return TensorstoreReader(path)
    return ZarrReader(path)


def available_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping), else free pages."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
