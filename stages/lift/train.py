"""Training of the lifter on a feature store: a short loop with exact resume, per-run work dirs.

Why a short loop and not mmengine's Runner:
- the cache is read a whole sorted batch per call; Runner's loops, samplers and collate assume per-sample datasets;
- exact resume (model, optimizer, scheduler, scaler, epoch, RNG, data order) is a few dozen lines here, tested by SIGKILLing a real run;
- mmengine still supplies the config system (`_base_` inheritance, config dumps) and the JSON-lines + TensorBoard scalar backends.

One step (``_train_step``): batch to the device (pinned, non-blocking) -> horizontal flip with
p = 0.5 per batch -> forward under autocast -> MPJPE in metres -> AdamW step. The learning rate
decays x``lr_decay`` per epoch. After every epoch: validation on the test split (flip test as
configured), ``epoch_<n>.pth`` (everything needed to resume) and ``best.pth`` (weights of the best
validation MPJPE). After the last epoch the best weights are evaluated and the report is written
into the run dir (metrics.json, table.md, plots).

Determinism: data order is a function of (seed, epoch), flips of (seed, epoch, batch), and the
global RNG state (stochastic depth) is saved with each checkpoint, so a run killed and resumed
ends with the same weights as one never interrupted (same device and thread count).

Under torchrun (the command joins the process group; ``stages.lift.ranks``) the same loop runs as
DDP: every rank builds the same global batches and trains on its part of each
(``FrameBatchSampler.part``), with the loss weighted so that DistributedDataParallel's gradient
average is the gradient of the global batch's mean loss, so N ranks take the steps one process
takes (up to float rounding). Logged losses are global-batch means (summed over ranks). Validation
deals whole eval batches out to the ranks and sums the predictions onto rank 0. Rank 0 chooses the
run dir and writes every file (checkpoints, best.pth, scalars, TensorBoard, report); each checkpoint holds every rank's
RNG state, and every rank loads the checkpoint on resume. Stochastic depth draws per rank, so with
drop_path_rate > 0 a DDP run is a different (equally valid) random run from a one-process run.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cache.store import FeatureStore, StoreError
from stages.lift.augment import FlipGeometry, flip_batch
from stages.lift.build import build_lifter, geometry_from_store, model_kwargs
from stages.lift.cost import count_params
from stages.lift.dataset import (MM_PER_M, CacheBatchDataset, FrameBatchSampler, auto_workers, make_loader,
                                 select_frames, to_device)
from stages.lift.evaluate import autocast, compute_metrics, evaluate, forward_batch, predict
from stages.lift.model import mpjpe_loss
from stages.lift.ranks import Ranks
from stages.lift.report import write_report

log = logging.getLogger(__name__)

# The authors' released setting (DESIGN.md); configs override any of these.
DEFAULT_TRAIN = dict(batch_size=512, epochs=50, lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, lr_decay=0.99,
                     flip_aug=True, flip_prob=0.5, flip_exact=True, amp=True, workers="auto", in_memory=False, seed=0,
                     reader="auto", log_interval=50, keep_ckpts=2, val_interval=1)
DEFAULT_EVAL = dict(flip_test=True, batch_size=512, after_train=True)
LAST_CHECKPOINT = "last_checkpoint"  # mmengine's name for the file that names the newest checkpoint


class ResumeError(StoreError):
    """A --resume target that cannot be continued (missing, or trained on another store)."""


@dataclass
class TrainRequest:
    cfg: dict                         # the merged config (model, train, data, eval sections)
    store_path: Path
    work_root: Path = Path("work_dirs")
    config_name: str = "lift"         # run dirs are <work_root>/<config_name>/<timestamp>
    resume: Path | None = None        # a run dir (its newest checkpoint) or a checkpoint file
    max_iters: int | None = None      # stop after this many optimizer steps in total (smoke runs)
    epochs: int | None = None         # override train.epochs
    device: str = "auto"
    workers: int | None = None        # override train.workers
    progress: bool = True


@dataclass
class TrainResult:
    run_dir: Path
    last_checkpoint: Path
    best_checkpoint: Path | None
    epochs_done: int
    iterations: int
    best_val_mpjpe: float | None
    metrics: dict = field(default_factory=dict)  # final evaluation (empty when eval.after_train=False)


def train_settings(cfg: dict) -> dict:
    return {**DEFAULT_TRAIN, **cfg.get("train", {})}


def eval_settings(cfg: dict) -> dict:
    return {**DEFAULT_EVAL, **cfg.get("eval", {})}


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_amp(amp, device: torch.device) -> str | None:
    """train.amp: True (bf16 where supported, else fp16), "bf16", "fp16" or False; CUDA only."""
    if not amp or device.type != "cuda":
        return None
    if amp is True:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"train.amp must be True, False, 'bf16' or 'fp16', got {amp!r}")
    return amp


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


def find_resume_checkpoint(target: Path) -> tuple[Path, Path]:
    """(run dir, checkpoint) for --resume: a checkpoint file, or a run dir's newest checkpoint."""
    target = Path(target)
    if target.is_file():
        return target.parent, target
    pointer = target / LAST_CHECKPOINT
    if not pointer.is_file():
        raise ResumeError(f"{target}: no {LAST_CHECKPOINT} file; nothing to resume (no epoch finished yet?)")
    checkpoint = target / pointer.read_text().strip()
    if not checkpoint.is_file():
        raise ResumeError(f"{pointer} names {checkpoint}, which does not exist")
    return target, checkpoint


# --------------------------------------------------------------------------- RNG and checkpoints

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


def save_atomic(checkpoint: dict, path: Path) -> None:
    """Write to a temporary name, then rename: a kill never leaves half a checkpoint behind."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, path)


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint_file(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ResumeError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error


def _prune(run_dir: Path, keep: int) -> None:
    """Keep the newest ``keep`` resumable checkpoints (each holds the optimizer: ~3x the weights)."""
    found = []
    for path in run_dir.glob("*.pth"):
        kind, _, number = path.stem.partition("_")
        if kind in ("epoch", "iter") and number.isdigit():
            found.append((path.stat().st_mtime_ns, path))
    for _, path in sorted(found)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the loop

@dataclass
class _Progress:
    """Where training stands; saved in every checkpoint's ``meta``."""

    epoch: int = 0              # completed epochs
    batch_in_epoch: int = 0     # batches of the current epoch already trained (mid-epoch stops)
    iteration: int = 0          # optimizer steps in total
    best_val_mpjpe: float = math.inf
    best_epoch: int | None = None


def _flip_this_batch(seed: int, epoch: int, batch: int, prob: float) -> bool:
    return bool(np.random.default_rng([seed, 1, epoch, batch]).random() < prob)


class _Logger:
    """JSON lines (mmengine LocalVisBackend -> scalars.json), TensorBoard, and a text log; silent
    (writes nothing) when ``enabled=False``, as on every rank but 0."""

    def __init__(self, run_dir: Path, enabled: bool = True):
        self.backends, self.text = [], None
        if enabled:
            from mmengine.visualization import LocalVisBackend, TensorboardVisBackend

            self.backends = [LocalVisBackend(str(run_dir)), TensorboardVisBackend(str(run_dir / "tensorboard"))]
            self.text = run_dir / "train.log"

    def scalars(self, values: dict, step: int) -> None:
        for backend in self.backends:
            backend.add_scalars(dict(values), step=step)

    def line(self, message: str) -> None:
        if self.text is None:
            return
        with open(self.text, "a") as handle:
            handle.write(time.strftime("%Y-%m-%d %H:%M:%S ") + message + "\n")
        log.info(message)

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


def _train_step(model: nn.Module, batch: dict, optimizer, scaler, amp: str | None, device: torch.device,
                weight: float = 1.0) -> torch.Tensor:
    """One optimizer step; returns the (weighted) loss. ``weight`` is ``FrameBatchSampler.loss_weight``
    (1.0 in one process, where multiplying by it is exact)."""
    with autocast(device, amp):
        pred = forward_batch(model, batch)
    loss = mpjpe_loss(pred.float(), batch["target"]) * weight
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()


def train(request: TrainRequest) -> TrainResult:
    """Train (or resume) one run; returns where everything was written (the same on every rank)."""
    cfg = request.cfg
    tcfg, ecfg = train_settings(cfg), eval_settings(cfg)
    epochs = int(request.epochs or tcfg["epochs"])
    ranks = Ranks.current()
    workers = auto_workers(request.workers if request.workers is not None else tcfg["workers"], ranks.local_world)

    # Every check that can fail runs before a run dir, a model or a loader exists.
    store = FeatureStore.open(request.store_path)
    geometry = geometry_from_store(cfg, store, need_targets=True)
    data_cfg = cfg.get("data", {})
    train_frames = select_frames(store, data_cfg.get("train_subjects"))
    val_frames = select_frames(store, data_cfg.get("test_subjects"))
    checkpoint = None
    if request.resume is not None:  # every rank reads the checkpoint itself
        run_dir, resume_path = find_resume_checkpoint(request.resume)
        checkpoint = load_checkpoint_file(resume_path)
        if checkpoint["meta"]["store_key"] != store.key:
            raise ResumeError(f"{resume_path} was trained on store {checkpoint['meta']['store_key']}, "
                              f"not {store.key} ({store.path})")
    device = ranks.device(resolve_device(request.device))
    amp = resolve_amp(tcfg["amp"], device)
    seed = int(tcfg["seed"])

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    core = build_lifter(cfg, geometry).to(device)  # the lifter itself; `model` adds DDP under torchrun
    optimizer = torch.optim.AdamW(core.param_groups(float(tcfg["lr"]), float(tcfg["offset_lr_mult"])),
                                  lr=float(tcfg["lr"]), weight_decay=float(tcfg["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(tcfg["lr_decay"]))
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")
    progress = _Progress()
    if checkpoint is not None:
        core.load_state_dict(checkpoint["state_dict"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        scheduler.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        progress = _Progress(**checkpoint["meta"]["progress"])
        per_rank = checkpoint.get("rng_ranks")  # saved by DDP runs; another world size resumes from rank 0's
        set_rng_state(per_rank[ranks.rank] if per_rank and len(per_rank) == ranks.world else checkpoint["rng"])
    else:
        run_dir = new_run_dir(request.work_root, request.config_name) if ranks.main else None
        run_dir = Path(ranks.from_main(str(run_dir)))
        if ranks.main:
            _write_config(cfg, run_dir, request, store, ranks.world)
    model = ranks.wrap(core, device)

    read_maps = core.context != "none"
    datasets = {name: CacheBatchDataset(store.path, frames, geometry.names, read_maps=read_maps,
                                        in_memory=bool(tcfg["in_memory"]), reader=tcfg["reader"],
                                        memory_fraction=0.8 / ranks.local_world,  # every rank holds a copy
                                        dequantize=device.type != "cuda")  # int8: on the GPU after the copy
                for name, frames in (("train", train_frames), ("val", val_frames))}
    sampler = FrameBatchSampler(len(datasets["train"]), int(tcfg["batch_size"]), shuffle=True, seed=seed,
                                rank=ranks.rank, world_size=ranks.world)
    flip_geometry = FlipGeometry.of(core, exact=bool(tcfg["flip_exact"]))
    meta = {"store_key": store.key, "store_path": str(store.path), "config_name": request.config_name,
            "levels": geometry.names, "model": model_kwargs(cfg, geometry)}
    logger = _Logger(run_dir, enabled=ranks.main)
    logger.line(f"{'resume from ' + str(request.resume) if checkpoint else 'start'}: {len(train_frames)} train / "
                f"{len(val_frames)} val frames, {count_params(core):,} params, device {device}, amp {amp}, "
                f"{ranks.world} process(es), store {store.path}")

    def save(name: str) -> Path:
        rng_ranks = ranks.gather(rng_state()) if ranks.world > 1 else None  # collective: every rank calls save
        path = run_dir / name
        if ranks.main:
            state = {"meta": {**meta, "progress": vars(progress)}, "state_dict": core.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict(), "rng": rng_state()}
            if rng_ranks is not None:
                state["rng_ranks"] = rng_ranks
            save_atomic(state, path)
            _write_text_atomic(run_dir / LAST_CHECKPOINT, name)
            _prune(run_dir, int(tcfg["keep_ckpts"]))
        return path

    def validate(out_dir: Path | None = None, extra: dict | None = None) -> dict:
        return _evaluate(core, datasets["val"], ranks, device=device, batch_size=int(ecfg["batch_size"]),
                         workers=workers, flip_test=bool(ecfg["flip_test"]), amp=amp,
                         dataset_type=_dataset_type(cfg, store), out_dir=out_dir, title=request.config_name,
                         extra=extra)

    last_path = None
    stop = request.max_iters is not None and progress.iteration >= request.max_iters
    for epoch in range(progress.epoch, epochs):
        if stop:
            break
        sampler.set_epoch(epoch, skip_batches=progress.batch_in_epoch)
        loader = make_loader(datasets["train"], sampler, workers=workers, pin_memory=device.type == "cuda",
                             seed=seed * 100_003 + epoch)
        stop = _train_epoch(model, loader, sampler, optimizer, scaler, amp, device, progress, epoch, tcfg,
                            flip_geometry, logger, request, epochs, ranks)
        if progress.batch_in_epoch < sampler.full_length():  # stopped mid-epoch by --max-iters
            last_path = save(f"iter_{progress.iteration}.pth")
            break
        scheduler.step()
        progress.epoch, progress.batch_in_epoch = epoch + 1, 0
        if (epoch + 1) % int(tcfg["val_interval"]) == 0 or epoch + 1 == epochs:
            metrics = validate()
            val = metrics["mpjpe"]
            logger.scalars({"val/mpjpe": val, "val/p_mpjpe": metrics["p_mpjpe"], "epoch": epoch + 1},
                           step=progress.iteration)
            logger.line(f"epoch {epoch + 1}/{epochs}: val MPJPE {val:.2f} mm, P-MPJPE {metrics['p_mpjpe']:.2f} mm")
            if val < progress.best_val_mpjpe:
                progress.best_val_mpjpe, progress.best_epoch = val, epoch + 1
                if ranks.main:
                    save_atomic({"meta": {**meta, "progress": vars(progress)}, "state_dict": core.state_dict()},
                                run_dir / "best.pth")
        last_path = save(f"epoch_{epoch + 1}.pth")
    ranks.barrier()  # rank 0's files are on disk before any rank looks for them
    if last_path is None:  # nothing left to train (resumed a finished run, or max-iters already met)
        last_path = find_resume_checkpoint(run_dir)[1]
    best_path = run_dir / "best.pth" if (run_dir / "best.pth").is_file() else None

    metrics: dict = {}
    if ecfg["after_train"]:
        weights = best_path or last_path
        core.load_state_dict(load_checkpoint_file(weights)["state_dict"])
        extra = {"checkpoint": weights.name, "epochs_trained": progress.epoch, "iterations": progress.iteration,
                 "config": request.config_name, "store": str(store.path), "params": count_params(core)}
        metrics = validate(out_dir=run_dir, extra=extra)
        logger.line(f"final ({weights.name}): MPJPE {metrics['mpjpe']:.2f} mm, P-MPJPE {metrics['p_mpjpe']:.2f} mm")
    logger.close()
    best = progress.best_val_mpjpe if math.isfinite(progress.best_val_mpjpe) else None
    return TrainResult(run_dir, last_path, best_path, progress.epoch, progress.iteration, best, metrics)


def _evaluate(model: nn.Module, dataset: CacheBatchDataset, ranks: Ranks, *, device: torch.device, batch_size: int,
              workers: int, flip_test: bool, amp: str | None, dataset_type: str, out_dir: Path | None = None,
              title: str = "", extra: dict | None = None) -> dict:
    """Metrics of ``model`` (the bare lifter, not DDP) on ``dataset``, the same on every rank.

    One process: ``evaluate``. Under torchrun the eval batches are dealt out whole (rank r predicts
    batches r, r + world, ...: the very batches one process predicts, so the same predictions),
    summed onto rank 0 (each row is filled by one rank, zeros elsewhere: the sum is exact), scored
    and reported there, and the metrics sent to every rank so all take the same best.pth decisions.
    """
    if ranks.world == 1:
        return evaluate(model, dataset, device=device, batch_size=batch_size, workers=workers, flip_test=flip_test,
                        amp=amp, dataset_type=dataset_type, out_dir=out_dir, title=title, extra=extra).metrics
    if dataset.inputs.target_m is None:
        raise ValueError(f"{dataset.store_path} has no gt3d: nothing to evaluate against")
    batches = FrameBatchSampler(len(dataset), batch_size, shuffle=False).batches()[ranks.rank::ranks.world]
    pred_m = np.zeros(dataset.inputs.target_m.shape, dtype=np.float32)  # (N, J, 3)
    if batches:
        loader = make_loader(dataset, batches, workers=workers, pin_memory=device.type == "cuda")
        pred_m = predict(model, loader, device=device, flip_test=flip_test, amp=amp, num_items=len(dataset))
    pred_m = ranks.sum_to_main(pred_m, device)
    metrics = None
    if ranks.main:
        pred_mm, gt_mm = pred_m * MM_PER_M, dataset.inputs.target_m * MM_PER_M
        metrics = compute_metrics(pred_mm, gt_mm, dataset.inputs.labels, dataset_type)
        metrics["flip_test"] = flip_test
        metrics.update(extra or {})
        if out_dir is not None:
            write_report(metrics, Path(out_dir), pred_mm=pred_mm, gt_mm=gt_mm, title=title)
    return ranks.from_main(metrics)


def _train_epoch(model, loader, sampler, optimizer, scaler, amp, device, progress: _Progress, epoch: int,
                 tcfg: dict, flip_geometry: FlipGeometry, logger: _Logger, request: TrainRequest,
                 epochs: int, ranks: Ranks) -> bool:
    """One (possibly resumed) epoch; returns True when --max-iters says stop.

    Under DDP every rank runs this with its part of each global batch; losses are summed over ranks
    at each log step (each rank's weighted loss is its share of the global mean times the world size)
    and frames counted per global batch, so the logged numbers are the job's, not one rank's."""
    from tqdm import tqdm

    model.train()
    seed, interval = int(tcfg["seed"]), int(tcfg["log_interval"])
    loss_sum, loss_count = torch.zeros((), device=device), 0
    frames, data_s, started = 0, 0.0, time.perf_counter()
    bar = tqdm(total=len(sampler), desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
               disable=not (request.progress and ranks.main), dynamic_ncols=True, leave=False)
    iterator = iter(loader)
    while True:
        tick = time.perf_counter()
        batch = next(iterator, None)
        data_s += time.perf_counter() - tick
        if batch is None:
            break
        batch = to_device(batch, device)
        if tcfg["flip_aug"] and _flip_this_batch(seed, epoch, progress.batch_in_epoch, float(tcfg["flip_prob"])):
            batch = flip_batch(batch, flip_geometry)
        loss = _train_step(model, batch, optimizer, scaler, amp, device,
                           weight=sampler.loss_weight(progress.batch_in_epoch))
        loss_sum += loss
        loss_count += 1
        frames += sampler.global_batch_size(progress.batch_in_epoch)
        progress.iteration += 1
        progress.batch_in_epoch += 1
        bar.update(1)
        if loss_count == interval or progress.batch_in_epoch == sampler.full_length():
            elapsed = time.perf_counter() - started
            mean = float(ranks.sum(loss_sum)) / ranks.world / loss_count * 1000.0  # metres -> mm for humans
            logger.scalars({"loss_mm": mean, "lr": optimizer.param_groups[0]["lr"], "epoch": epoch + 1,
                            "frames_per_s": frames / elapsed, "data_wait_frac": data_s / elapsed},
                           step=progress.iteration)
            bar.set_postfix(loss_mm=f"{mean:.1f}", fps=f"{frames / elapsed:.0f}")
            loss_sum, loss_count = torch.zeros((), device=device), 0
        if request.max_iters is not None and progress.iteration >= request.max_iters:
            bar.close()
            del iterator
            return True
    bar.close()
    elapsed = time.perf_counter() - started
    logger.line(f"epoch {epoch + 1}/{epochs}: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.0f} "
                f"frames/s, waiting for data {100 * data_s / max(elapsed, 1e-9):.0f}% of the time)")
    return False


def _dataset_type(cfg: dict, store: FeatureStore) -> str:
    return str(cfg.get("dataset", {}).get("type") or store.attrs.get("key_inputs", {}).get("dataset", "h36m"))


def _write_config(cfg: dict, run_dir: Path, request: TrainRequest, store: FeatureStore, processes: int = 1) -> None:
    """The merged config as mmengine would write it, plus what it ran on (for eval and ablate)."""
    from mmengine.config import Config

    Config(cfg).dump(str(run_dir / "config.py"))
    (run_dir / "run.json").write_text(json.dumps({
        "config_name": request.config_name, "store": str(store.path), "store_key": store.key,
        "max_iters": request.max_iters, "epochs": request.epochs, "device": request.device, "processes": processes,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=2) + "\n")
