"""Content keys for feature stores.

A store's key hashes everything that determines its contents and nothing else (DESIGN.md, "The
cache contract"): the frame index (image paths relative to the data root + boxes), the detector
config text, the checkpoint's sha256, the input size, the 2D source, the stored feature type
(fp16 or 8-bit codes: they hold different values) and the schema version. Lifting-model settings
never enter the key, so every stage-two ablation reuses one store; layout choices (shard size,
compression) do not either, because they change bytes on disk, not values. A frame step of the
source (every k-th training frame) enters through the frame index.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 2  # 2: the spec records input_size_wh; loose layout attributes gone
KEY_LENGTH = 12


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file, streamed so multi-GB checkpoints do not load into memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


MEMO_NAME = "sha256-memo.json"  # in a cache dir: path -> (size, mtime_ns, sha256) of hashed files


def sha256_file_memo(path: Path, memo_dir: Path | None) -> str:
    """``sha256_file`` remembered per (absolute path, size, mtime) in ``memo_dir/sha256-memo.json``.

    Finding a store by its key on every `capf train`/`eval` would otherwise re-read a multi-GB
    checkpoint each time. A file whose size or mtime changed is hashed again; a memo that cannot be
    read is ignored (it is a cache, never the truth)."""
    if memo_dir is None:
        return sha256_file(path)
    from cache.atomic import write_text_atomic

    path = Path(path).resolve()
    stat = path.stat()
    memo_file = Path(memo_dir) / MEMO_NAME
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(str(path))
    if entry and entry[:2] == [stat.st_size, stat.st_mtime_ns]:
        return entry[2]
    digest = sha256_file(path)
    memo[str(path)] = [stat.st_size, stat.st_mtime_ns, digest]
    try:
        Path(memo_dir).mkdir(parents=True, exist_ok=True)
        write_text_atomic(memo_file, json.dumps(memo, indent=1, sort_keys=True))
    except OSError:
        pass  # a read-only cache dir still works, it just hashes again next time
    return digest


def frame_index_digest(image_names: list[str], bboxes_xyxy: np.ndarray) -> str:
    """Hash the ordered frame list. Names are relative to the data root so moving a dataset
    does not invalidate its cache; boxes are rounded to 1/1000 px so float noise does not either."""
    digest = hashlib.sha256()
    for name in image_names:
        digest.update(name.encode())
        digest.update(b"\0")
    digest.update(np.round(np.asarray(bboxes_xyxy, dtype=np.float64), 3).tobytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class KeyInputs:
    """Everything a store's features depend on; serialised into the store's attributes."""

    dataset: str
    frame_index_sha256: str
    num_frames: int
    detector_config_sha256: str
    checkpoint_sha256: str  # or "random-init:<seed>" for smoke runs
    input_size_wh: tuple[int, int]
    kp2d_source: str  # "detector" or "external:<sha256 of the detections file>"
    flip_test: bool = False
    feature_dtype: str = "float16"  # "int8": stored values differ, so the key does
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["input_size_wh"] = list(self.input_size_wh)
        return out

    def key(self) -> str:
        """First KEY_LENGTH hex digits of the sha256 of the canonical JSON of the inputs."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "x"


def store_name(dataset: str, detector: str, inputs: KeyInputs) -> str:
    """Readable name in front of the hash: `h36m-hrnet_w32-256x192-<key>.zarr` (h x w like mmpose)."""
    width, height = inputs.input_size_wh
    return f"{_slug(dataset)}-{_slug(detector)}-{height}x{width}-{inputs.key()}.zarr"
