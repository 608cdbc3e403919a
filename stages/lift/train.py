"""Training of the lifter on a feature store: a short loop with exact resume, per-run work dirs.

Not mmengine's Runner: the cache is read a whole sorted batch per call (Runner's samplers and
collate assume per-sample datasets), and exact resume is a few dozen lines here, tested by
SIGKILLing a real run. Per epoch: ``FrameBatchSampler`` batches -> ``runtime.train_step`` (a whole
batch mirrored with p = flip_prob) -> lr x``lr_decay`` -> validation (``evaluate.evaluate``) ->
``epoch_<n>.pth`` / ``best.pth`` (``checkpoints``); at the end the best weights' report.

Determinism: data order depends on (seed, epoch), flips on (seed, epoch, batch), and every global
RNG is saved with each checkpoint, so a killed and resumed run ends with the same weights.
Under torchrun (``stages.distributed``) the loop runs as DDP: every rank builds the same global
batches and trains on its part, the loss weighted so DDP's gradient average is the global batch's
gradient; rank 0 writes every file; stochastic depth draws per rank.
"""

from __future__ import annotations

import math
import random
from functools import partial
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cache.store import FeatureStore
from stages.distributed import Ranks
from stages.lift.augment import FlipGeometry, flips_batch, resolve_flip_features
from stages.lift.build import build_lifter, geometry_from_store, model_kwargs
from stages.lift.checkpoints import (ResumeError, find_resume_checkpoint, load_checkpoint_file, new_run_dir,
                                     rng_state, save_checkpoint, save_resumable, set_rng_state,
                                     write_run_files)
from stages.lift.cost import count_params
from stages.lift.dataset import (FlipReadingSampler, FrameBatchSampler, auto_workers, make_loader, select_frames,
                                 to_device, training_sampler)
from stages.lift.evaluate import evaluate, evaluation_protocol
from stages.lift.run_log import RunLog
from stages.lift.ground_truth_kind import check_same_joints_3d
from stages.lift.runtime import build_optimizer, resolve_amp, train_step
from stages.lift.sequence_dataset import check_store_for, lift_dataset
from stages.lift.validation_split import carve_validation
from stages.lift.settings import lift_settings


@dataclass
class TrainRequest:
    cfg: dict                         # a lift config (completed from configs/lift/capf_base.py)
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


@dataclass
class _Progress:
    """Where training stands; saved in every checkpoint's ``meta``."""

    epoch: int = 0              # completed epochs
    batch_in_epoch: int = 0     # batches of the current epoch already trained (mid-epoch stops)
    iteration: int = 0          # optimizer steps in total
    best_val_mpjpe: float = math.inf
    best_epoch: int | None = None


def train(request: TrainRequest) -> TrainResult:
    """Train (or resume) one run; returns where everything was written (the same on every rank)."""
    cfg = lift_settings(request.cfg)
    tcfg, ecfg = cfg["train"], cfg["eval"]
    epochs = int(request.epochs or tcfg["epochs"])
    ranks = Ranks.current()
    workers = auto_workers(request.workers if request.workers is not None else tcfg["workers"], ranks.local_world)

    # Every check that can fail runs before a run dir, a model or a loader exists.
    store = FeatureStore.open(request.store_path)
    geometry = geometry_from_store(cfg, store, need_targets=True)
    check_store_for(cfg, store, geometry.names)
    flip_features = {"train": resolve_flip_features(tcfg["flip_features"], store, "train.flip_features"),
                     "val": resolve_flip_features(ecfg["flip_features"], store, "eval.flip_features")}
    train_frames = select_frames(store, cfg["data"]["train_subjects"])
    val_frames = select_frames(store, cfg["data"]["test_subjects"])
    joints_3d = check_same_joints_3d(store, train_frames, val_frames)
    if float(cfg["data"]["val_fraction"]) > 0:  # tune on training videos, never on the test split
        train_frames, val_frames = carve_validation(store, train_frames, float(cfg["data"]["val_fraction"]))
    checkpoint = None
    if request.resume is not None:  # every rank reads the checkpoint itself
        run_dir, resume_path = find_resume_checkpoint(request.resume)
        checkpoint = load_checkpoint_file(resume_path)
        if checkpoint["meta"]["store_key"] != store.key:
            raise ResumeError(f"{resume_path} was trained on store {checkpoint['meta']['store_key']}, "
                              f"not {store.key} ({store.path})")
    device = ranks.device(request.device)
    amp = resolve_amp(tcfg["amp"], device)
    seed = int(tcfg["seed"])

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    core = build_lifter(cfg, geometry).to(device)  # the lifter itself; `model` adds DDP under torchrun
    optimizer, scheduler, scaler = build_optimizer(core, tcfg, amp)
    progress = _Progress()
    if checkpoint is not None:
        for part, state in ((core, "state_dict"), (optimizer, "optimizer"), (scheduler, "scheduler"),
                            (scaler, "scaler")):
            part.load_state_dict(checkpoint[state])
        progress = _Progress(**checkpoint["meta"]["progress"])
        per_rank = checkpoint.get("rng_ranks")  # saved by DDP runs; another world size resumes from rank 0's
        set_rng_state(per_rank[ranks.rank] if per_rank and len(per_rank) == ranks.world else checkpoint["rng"])
    else:
        run_dir = Path(ranks.from_main(str(new_run_dir(request.work_root, request.config_name))
                                       if ranks.main else None))
        if ranks.main:
            write_run_files(run_dir, cfg, {"config_name": request.config_name, "store": str(store.path),
                                           "store_key": store.key, "max_iters": request.max_iters,
                                           "epochs": request.epochs, "device": request.device,
                                           "processes": ranks.world})
    model = ranks.wrap(core, device)

    datasets = {name: lift_dataset(core, store.path, frames, geometry.names, train_cfg=tcfg, data_cfg=cfg["data"],
                                   memory_fraction=0.8 / ranks.local_world,  # every rank holds a copy
                                   dequantize=device.type != "cuda",  # int8: on the GPU after the copy
                                   flip_features=flip_features[name])
                for name, frames in (("train", train_frames), ("val", val_frames))}
    sampler = training_sampler(datasets["train"], int(tcfg["batch_size"]), seed=seed, rank=ranks.rank,
                               world_size=ranks.world)
    flip_geometry = FlipGeometry.of(core, exact=bool(tcfg["flip_exact"]))
    meta = {"store_key": store.key, "store_path": str(store.path), "config_name": request.config_name,
            "levels": geometry.names, "model": model_kwargs(cfg, geometry), "joints_3d": joints_3d}
    log = RunLog(run_dir, enabled=ranks.main)
    log.line(f"{'resume from ' + str(request.resume) if checkpoint else 'start'}: {len(train_frames)} train / "
             f"{len(val_frames)} val frames, {count_params(core):,} params, device {device}, amp {amp}, "
             f"{ranks.world} process(es), flip features {flip_features['train']} / {flip_features['val']} "
             f"(train / flip test), store {store.path}")

    def save(name: str) -> Path:
        rng_ranks = ranks.gather(rng_state()) if ranks.world > 1 else None  # collective: every rank calls save
        if ranks.main:
            state = {"meta": {**meta, "progress": vars(progress)}, "state_dict": core.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict(), "rng": rng_state()}
            if rng_ranks is not None:
                state["rng_ranks"] = rng_ranks
            save_resumable(state, run_dir, name, int(tcfg["keep_ckpts"]))
        return run_dir / name

    def validate(out_dir: Path | None = None, extra: dict | None = None) -> dict:
        return evaluate(core, datasets["val"], device=device, batch_size=int(ecfg["batch_size"]), workers=workers,
                        flip_test=bool(ecfg["flip_test"]), amp=amp, dataset_type=evaluation_protocol(cfg, store),
                        flip_features=flip_features["val"],
                        out_dir=out_dir, title=request.config_name, extra=extra, ranks=ranks,
                        reroot=ecfg["reroot"]).metrics

    last_path = None
    stop = request.max_iters is not None and progress.iteration >= request.max_iters
    for epoch in range(progress.epoch, epochs):
        if stop:
            break
        sampler.set_epoch(epoch, skip_batches=progress.batch_in_epoch)
        loader = make_loader(datasets["train"], _reading_sampler(sampler, datasets["train"], tcfg), workers=workers,
                             pin_memory=device.type == "cuda", seed=seed * 100_003 + epoch)
        stop = _train_epoch(model, loader, sampler, optimizer, scaler, amp, device, progress, epoch, tcfg,
                            flip_geometry, log, request, epochs, ranks)
        if progress.batch_in_epoch < sampler.full_length():  # stopped mid-epoch by --max-iters
            last_path = save(f"iter_{progress.iteration}.pth")
            break
        scheduler.step()
        progress.epoch, progress.batch_in_epoch = epoch + 1, 0
        if (epoch + 1) % int(tcfg["val_interval"]) == 0 or epoch + 1 == epochs:
            metrics = validate()
            val = metrics["mpjpe"]
            log.scalars({"val/mpjpe": val, "val/p_mpjpe": metrics["p_mpjpe"], "epoch": epoch + 1},
                        step=progress.iteration)
            log.line(f"epoch {epoch + 1}/{epochs}: val MPJPE {val:.2f} mm, P-MPJPE {metrics['p_mpjpe']:.2f} mm")
            if val < progress.best_val_mpjpe:
                progress.best_val_mpjpe, progress.best_epoch = val, epoch + 1
                if ranks.main:
                    save_checkpoint({"meta": {**meta, "progress": vars(progress)}, "state_dict": core.state_dict()},
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
        log.line(f"final ({weights.name}): MPJPE {metrics['mpjpe']:.2f} mm, P-MPJPE {metrics['p_mpjpe']:.2f} mm")
    log.close()
    best = progress.best_val_mpjpe if math.isfinite(progress.best_val_mpjpe) else None
    return TrainResult(run_dir, last_path, best_path, progress.epoch, progress.iteration, best, metrics)


def _flips(tcfg: dict, epoch: int, batch: int) -> bool:
    """Whether the training loop mirrors this batch (flip_aug with p = flip_prob, from seed/epoch/batch)."""
    return bool(tcfg["flip_aug"]) and flips_batch(int(tcfg["seed"]), epoch, batch, float(tcfg["flip_prob"]))


def _reading_sampler(sampler: FrameBatchSampler, dataset, tcfg: dict):
    """The loader's sampler: with extracted flip maps, one that asks for ``feat_flip`` exactly on
    the batches ``_flips`` mirrors (decided before the read, so each batch reads one map set)."""
    if not getattr(dataset, "has_flip_maps", False):
        return sampler
    return FlipReadingSampler(sampler, partial(_flips, tcfg))


def _train_epoch(model, loader, sampler, optimizer, scaler, amp, device, progress: _Progress, epoch: int,
                 tcfg: dict, flip_geometry: FlipGeometry, log: RunLog, request: TrainRequest,
                 epochs: int, ranks: Ranks) -> bool:
    """One (possibly resumed) epoch; returns True when --max-iters says stop. Losses are summed
    over ranks at each log step and frames counted per global batch: the job's numbers."""
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
        flip = _flips(tcfg, epoch, progress.batch_in_epoch)
        if flip and getattr(loader.dataset, "has_flip_maps", False) and not {"feats_flip", "joint_feats_flip"} & set(batch):
            raise RuntimeError("a mirrored batch arrived without its feat_flip maps (sampler and loop disagree)")
        loss_sum += train_step(model, to_device(batch, device), optimizer, scaler, amp, device,
                               flip=flip_geometry if flip else None,
                               weight=sampler.loss_weight(progress.batch_in_epoch))
        loss_count += 1
        frames += sampler.global_batch_size(progress.batch_in_epoch)
        progress.iteration += 1
        progress.batch_in_epoch += 1
        bar.update(1)
        if loss_count == interval or progress.batch_in_epoch == sampler.full_length():
            elapsed = time.perf_counter() - started
            mean = float(ranks.sum(loss_sum)) / ranks.world / loss_count * 1000.0  # metres -> mm for humans
            log.scalars({"loss_mm": mean, "lr": optimizer.param_groups[0]["lr"], "epoch": epoch + 1,
                         "frames_per_s": frames / elapsed, "data_wait_frac": data_s / elapsed}, step=progress.iteration)
            bar.set_postfix(loss_mm=f"{mean:.1f}", fps=f"{frames / elapsed:.0f}")
            loss_sum, loss_count = torch.zeros((), device=device), 0
        if request.max_iters is not None and progress.iteration >= request.max_iters:
            bar.close()
            del iterator
            return True
    bar.close()
    elapsed = max(time.perf_counter() - started, 1e-9)
    log.line(f"epoch {epoch + 1}/{epochs}: {frames} frames in {elapsed:.1f} s ({frames / elapsed:.0f} "
             f"frames/s, waiting for data {100 * data_s / elapsed:.0f}% of the time)")
    return False
