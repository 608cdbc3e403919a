"""Run directories and checkpoints of lifter training: what a run leaves on disk and how it resumes.

A run gets ``<work_root>/<config name>/<timestamp>/`` (never reused). Each checkpoint holds
everything an exact resume needs (weights, optimizer, scheduler, scaler, progress, every global
RNG) and is written atomically; ``last_checkpoint`` names the newest, as mmengine does; older
resumable checkpoints beyond ``keep`` are pruned (each holds the optimizer: ~3x the weights).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import numpy as np
import torch

from cache.atomic import replace_atomically, write_text_atomic
from cache.store import StoreError

LAST_CHECKPOINT = "last_checkpoint"  # mmengine's name for the file that names the newest checkpoint


class ResumeError(StoreError):
    """A checkpoint that cannot be used (missing, unreadable, trained on another store or model)."""


def new_run_dir(work_root: Path, config_name: str) -> Path:
    """A fresh ``<work_root>/<config_name>/<YYYYmmdd_HHMMSS>[_k]``; mkdir without exist_ok makes two
    runs started in the same second (or in parallel) take different directories."""
    base = Path(work_root) / config_name
    base.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d_%H%M%S")
    for k in range(10_000):
        run_dir = base / (stamp if k == 0 else f"{stamp}_{k}")
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue
    raise RuntimeError(f"{base}: cannot create a new run dir")


def write_run_files(run_dir: Path, cfg: dict, run_info: dict) -> None:
    """``config.py`` (the merged config as mmengine writes it) and ``run.json`` (what it ran on:
    store, key, overrides), which `capf eval`, `--resume` and the ablations read back."""
    from mmengine.config import Config

    Config(cfg).dump(str(run_dir / "config.py"))
    write_text_atomic(run_dir / "run.json", json.dumps({**run_info, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                                                       indent=2) + "\n")


def find_resume_checkpoint(target: Path) -> tuple[Path, Path]:
    """(run dir, checkpoint) for --resume: a checkpoint file, or a run dir's newest checkpoint.

    ``last_checkpoint`` is written just after the checkpoint it names, so a kill between the two
    leaves a complete checkpoint (they are written atomically) that no pointer names yet; the
    newest resumable checkpoint on disk is then the one to resume from."""
    target = Path(target)
    if target.is_file():
        return target.parent, target
    pointer = target / LAST_CHECKPOINT
    named = target / pointer.read_text().strip() if pointer.is_file() else None
    if named is not None and named.is_file():
        return target, named
    on_disk = _resumable_checkpoints(target)
    if on_disk:
        return target, on_disk[-1]
    if named is not None:
        raise ResumeError(f"{pointer} names {named}, which does not exist")
    raise ResumeError(f"{target}: no {LAST_CHECKPOINT} file and no epoch_*/iter_* checkpoint; nothing to resume "
                      "(no epoch finished yet?)")


def rng_state() -> dict:
    """Every global RNG the step touches, as tensors and ints (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])


def save_checkpoint(state: dict, path: Path) -> Path:
    """torch.save, atomically: a kill never leaves half a checkpoint behind."""
    return replace_atomically(path, lambda tmp: torch.save(state, tmp))


def save_resumable(state: dict, run_dir: Path, name: str, keep: int) -> Path:
    """A resumable checkpoint: written, named in ``last_checkpoint``, older ones pruned to ``keep``."""
    path = save_checkpoint(state, run_dir / name)
    write_text_atomic(run_dir / LAST_CHECKPOINT, name)
    _prune(run_dir, keep)
    return path


def load_checkpoint_file(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as error:
        raise ResumeError(f"{path}: checkpoint not found") from error
    except Exception as error:
        raise ResumeError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error


def load_weights(model: torch.nn.Module, checkpoint: dict, path: Path) -> None:
    """The checkpoint's weights into ``model``; one line naming the file when they do not fit."""
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (KeyError, RuntimeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ResumeError(f"{path}: weights do not fit the configured model ({first})") from error


def _resumable_checkpoints(run_dir: Path) -> list[Path]:
    """The run's ``epoch_N.pth`` / ``iter_N.pth`` files, oldest first (by write time: a run saves
    either kind, and each is renamed into place only when complete)."""
    found = []
    for path in run_dir.glob("*.pth"):
        kind, _, number = path.stem.partition("_")
        if kind in ("epoch", "iter") and number.isdigit():
            found.append((path.stat().st_mtime_ns, path))
    return [path for _, path in sorted(found)]


def _prune(run_dir: Path, keep: int) -> None:
    """Keep the newest ``keep`` resumable checkpoints."""
    for path in _resumable_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)
