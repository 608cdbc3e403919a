"""Train an mmpose top-down detector with mmpose/mmengine's own Runner (the synthetic closed loop).

No pretrained weights can be downloaded here, so the demo trains the slim HRNet of
configs/detectors on the synthetic Human3.6M; the result is an ordinary mmpose checkpoint that
`capf extract` loads like any model-zoo file, with its sha256 written beside it.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from cache.key import sha256_file
from stages.detector.topdown import resolve_config_path


@dataclass(frozen=True)
class TrainedDetector:
    checkpoint: Path
    sha256: str
    pck: float  # PCK@0.05 (box-normalised) on the test split
    epochs: int
    config: str


def _release_runner(runner) -> None:
    """Stop the Runner's persistent loader workers now, in this process.

    The Runner and its loops reference each other, so after ``train()`` it is cyclic garbage that
    holds the live ``_MultiProcessingDataLoaderIter`` of each persistent loader (train and val).
    Left to a later full collection, that garbage is inherited by every process forked meanwhile
    (the extraction's loader workers in ``make demo``), whose collector then runs the iterators'
    ``__del__`` outside their parent: "AssertionError: can only test a child process" tracebacks,
    and shutdown messages sent to workers that are not theirs. Collecting here shuts the workers
    down where they were started, before anything else forks."""
    loops = [getattr(runner, f"_{name}_loop", None) for name in ("train", "val", "test")]
    for loop in loops:
        iterator = getattr(getattr(loop, "dataloader", None), "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
            loop.dataloader._iterator = None
    gc.collect()


def _record_path(work_dir: Path) -> Path:
    return Path(work_dir) / "detector.json"


def trained_detector(work_dir: Path) -> TrainedDetector | None:
    """The detector a finished ``train_detector`` left in ``work_dir`` (whatever it was asked to do),
    or None when there is none: how `capf infer` finds the demo's detector without retraining it."""
    record = _record_path(work_dir)
    if not record.is_file():
        return None
    return _recorded_detector(json.loads(record.read_text()), Path(work_dir))


def _recorded_detector(saved: dict, work_dir: Path) -> TrainedDetector | None:
    """The record's detector, its checkpoint looked up in ``work_dir`` (records name it relative to
    the work dir, so a moved or copied demo keeps its detector; older records hold an absolute
    path, used when it still exists); None when the checkpoint is gone."""
    named = Path(saved["checkpoint"])
    checkpoint = named if named.is_absolute() and named.is_file() else work_dir / named.name
    if not checkpoint.is_file():
        return None
    return TrainedDetector(**{k: saved[k] for k in ("sha256", "pck", "epochs", "config")}, checkpoint=checkpoint)


def _portable_data_root(data_root: Path | str, work_dir: Path) -> str:
    """``data_root`` as the record compares it: relative to the detector's work dir, so moving the
    demo dir (data and detector together) is still a cache hit, not a retraining."""
    return os.path.relpath(Path(data_root).resolve(), Path(work_dir).resolve())


def train_detector(config: str, data_root: Path, work_dir: Path, *, max_epochs: int | None = None,
                   batch_size: int | None = None, workers: int | None = None, seed: int = 0) -> TrainedDetector:
    """Train (or find already trained) a detector; returns the checkpoint, its sha256 and test PCK.

    A finished run writes `detector.json` last; when it exists for the same inputs, nothing is
    retrained (the demo's cache hit)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    work_dir = Path(work_dir)
    request = {"config": config, "data_root": _portable_data_root(data_root, work_dir), "max_epochs": max_epochs,
               "batch_size": batch_size, "seed": seed}
    record = _record_path(work_dir)
    if record.exists():
        saved = json.loads(record.read_text())
        asked = dict(saved.get("request") or {})
        if "data_root" in asked:
            asked["data_root"] = _portable_data_root(asked["data_root"], work_dir) \
                if Path(asked["data_root"]).is_absolute() else asked["data_root"]
        if asked == request and (found := _recorded_detector(saved, work_dir)) is not None:
            return found
    cfg = Config.fromfile(str(resolve_config_path(config)))
    cfg.work_dir = str(work_dir / "runner")
    cfg.randomness = dict(seed=seed)
    if max_epochs is not None:
        cfg.train_cfg.max_epochs = max_epochs
        for scheduler in cfg.param_scheduler:
            if scheduler.get("by_epoch", True) and "T_max" in scheduler:
                scheduler.update(T_max=max_epochs, end=max_epochs)  # the cosine spans the new length
    for loader in (cfg.train_dataloader, cfg.val_dataloader, cfg.test_dataloader):
        loader.dataset.data_root = str(Path(data_root).resolve())
        if workers is not None:
            loader.num_workers = workers
            loader.persistent_workers = workers > 0
    if batch_size is not None:
        cfg.train_dataloader.batch_size = batch_size
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs  # mmengine validates after the last epoch
    runner = Runner.from_cfg(cfg)
    runner.train()
    pck = float(runner.message_hub.get_scalar("val/PCK").current())
    _release_runner(runner)
    del runner
    final = work_dir / f"{Path(config).stem}.pth"
    last = Path(cfg.work_dir) / f"epoch_{cfg.train_cfg.max_epochs}.pth"
    shutil.copyfile(last, final)
    result = TrainedDetector(checkpoint=final, sha256=sha256_file(final), pck=pck,
                             epochs=int(cfg.train_cfg.max_epochs), config=config)
    final.with_suffix(".pth.sha256").write_text(f"{result.sha256}  {final.name}\n")
    record.write_text(json.dumps({**asdict(result), "checkpoint": final.name, "request": request}, indent=2))
    return result
