"""The one evaluation of a lifter on a store's test frames: predictions (with flip test), metrics, report.

Used by validation during training, `capf eval` (through ``evaluate_checkpoint``), the demo and the
ablations. Human3.6M-style stores (an ``index/action`` table) get protocols 1 and 2 per action,
averaged over actions and over frames, plus MPJVE where consecutive frames of one video are
present; MPI-INF-3DHP stores get PCK@150 mm and AUC besides; every kind gets ``mpjpe`` and
``p_mpjpe`` (mm).

Under torchrun the eval batches are dealt out whole (rank r predicts batches r, r + world, ...:
the very batches one process predicts, so the same predictions), summed over ranks (each row is
filled by one rank, zeros elsewhere: the sum is exact), scored and reported on rank 0, and the
metrics sent to every rank so all take the same best.pth decisions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cache.store import FeatureStore
from stages.distributed import Ranks
from stages.lift.augment import FlipGeometry, flip_back, flip_batch
from stages.lift.dataset import (MM_PER_M, BatchRequest, CacheBatchDataset, FrameBatchSampler, make_loader,
                                 select_frames, to_device)
from stages.lift.joints import ROOT_JOINT
from stages.lift.metrics import evaluate_3dhp, evaluate_h36m, mpjpe, p_mpjpe, per_video_errors, root_relative
from stages.lift.report import write_report
from stages.lift.runtime import autocast, forward_batch
from stages.lift.sequence_dataset import lift_dataset

THREEDHP_TYPES = ("mpi_inf_3dhp", "3dhp")


@torch.no_grad()
def predict(model: nn.Module, loader, *, device: torch.device, flip_test: bool, amp: str | None = None,
            geometry: FlipGeometry | None = None, num_items: int | None = None) -> np.ndarray:
    """Predictions ``(N, J, 3)`` float32 (the model's units) in dataset order.

    Flip test: the mean of the prediction and the mirrored-back prediction of the mirrored batch
    (whose maps are the batch's ``feats_flip`` when the loader read them, else the mirrored maps).
    """
    was_training = model.training
    model.eval()
    geometry = geometry or FlipGeometry.of(model)
    preds: np.ndarray | None = None
    try:
        for batch in loader:
            batch = to_device(batch, device)
            pred = predict_batch(model, batch, device=device, flip_test=flip_test, amp=amp, geometry=geometry)
            if preds is None:
                preds = np.zeros((num_items or len(loader.dataset), *pred.shape[1:]), dtype=np.float32)
            preds[batch["pos"].cpu().numpy()] = pred.cpu().numpy()
    finally:
        model.train(was_training)
    if preds is None:
        raise ValueError("no frames to predict")
    return preds


@torch.no_grad()
def predict_batch(model: nn.Module, batch: dict, *, device: torch.device, flip_test: bool, amp: str | None,
                  geometry: FlipGeometry) -> torch.Tensor:
    """``(B, J, 3)`` float32 prediction of one device batch (the model in eval mode): the forward,
    and with ``flip_test`` its mean with the mirrored-back prediction of the mirrored batch."""
    with autocast(device, amp):
        pred = forward_batch(model, batch).float()
        if flip_test:
            pred = (pred + flip_back(forward_batch(model, flip_batch(batch, geometry)).float())) / 2
    return pred


def evaluation_protocol(cfg: dict, store: FeatureStore) -> str:
    """The dataset kind that picks the metrics: the config's ``dataset.type``, else the store's dataset."""
    return str((cfg.get("dataset") or {}).get("type") or store.attrs["key_inputs"]["dataset"])


REROOT_CHOICES = (True, False, "zero_root", "auto")


def resolve_reroot(reroot: bool | str, dataset_type: str) -> bool | str:
    """``eval.reroot`` for a dataset kind: ``"auto"`` follows the dataset's published evaluation,
    the authors' ``"zero_root"`` on MPI-INF-3DHP and CAPF's re-rooting (True) elsewhere."""
    if not isinstance(reroot, bool) and reroot not in ("zero_root", "auto"):
        raise ValueError(f"eval.reroot must be one of {REROOT_CHOICES}, got {reroot!r}")
    if reroot == "auto":
        return "zero_root" if dataset_type in THREEDHP_TYPES else True
    return reroot


def prepare_prediction(pred_mm: np.ndarray, reroot: bool | str) -> np.ndarray:
    """The prediction as the metrics see it, ``(N, J, 3)`` mm, by the resolved ``eval.reroot``:
    True subtracts the predicted pelvis from every joint; False scores the head's output as it is
    (the authors' Human3.6M MPJPE); ``"zero_root"`` sets the predicted pelvis to zero and leaves the
    other joints alone (the authors' MPI-INF-3DHP evaluation: ``pred_out[:, :, 14] = 0``)."""
    pred = np.asarray(pred_mm, dtype=np.float64)
    if reroot is True:
        return root_relative(pred)
    if reroot == "zero_root":
        pred = pred.copy()
        pred[:, ROOT_JOINT] = 0.0
    return pred


def compute_metrics(pred_mm: np.ndarray, gt_mm: np.ndarray, labels: dict, dataset_type: str, *,
                    reroot: bool | str = "auto") -> dict:
    """Metrics by dataset kind; inputs ``(N, 17, 3)`` mm, labels from ``LiftInputs.labels``.

    The ground truth is always made root-relative; the prediction as ``eval.reroot`` says
    (:func:`resolve_reroot`, :func:`prepare_prediction`). Without re-rooting a pelvis the model does
    not put at the origin counts against every joint; P-MPJPE aligns translation either way."""
    pred, gt = prepare_prediction(pred_mm, resolve_reroot(reroot, dataset_type)), root_relative(gt_mm)
    if "action" in labels and dataset_type not in THREEDHP_TYPES:
        metrics = evaluate_h36m(pred, gt, list(labels["action"]), labels.get("video"), labels.get("frame"),
                                already_root_relative=True)
        if "video" in labels and "frame" in labels:
            metrics["per_video"] = per_video_errors(pred, gt, labels["video"], labels["frame"],
                                                    already_root_relative=True)
        return metrics
    errors = np.linalg.norm(pred - gt, axis=-1)
    metrics = {"mpjpe": float(mpjpe(pred, gt).mean()), "p_mpjpe": float(p_mpjpe(pred, gt).mean()),
               "per_joint_mpjpe": [float(v) for v in errors.mean(axis=0)], "num_frames": int(len(pred))}
    if dataset_type in THREEDHP_TYPES or "scene" in labels:
        metrics.update(evaluate_3dhp(pred, gt, already_root_relative=True, scenes=labels.get("scene"),
                                     activities=labels.get("activity"), sequences=labels.get("sequence")))
    return metrics


@dataclass
class EvalResult:
    metrics: dict                     # the same on every rank
    pred_mm: np.ndarray               # (N, 17, 3) root-relative; complete on rank 0 only
    gt_mm: np.ndarray
    frames: np.ndarray                # store indices
    written: dict[str, Path] = field(default_factory=dict)


def evaluate(model: nn.Module, dataset: CacheBatchDataset, *, device: torch.device, batch_size: int = 512,
             workers: int | str = "auto", flip_test: bool = True, amp: str | None = None, dataset_type: str = "h36m",
             out_dir: Path | None = None, title: str = "", extra: dict | None = None,
             ranks: Ranks | None = None, flip_features: str = "mirrored", reroot: bool | str = "auto") -> EvalResult:
    """Predict every frame of ``dataset`` with ``model`` (the bare lifter, not DDP), compute the
    metrics and (with ``out_dir``, on rank 0) write the report: metrics.json (``extra`` merged in),
    table.md, per_joint_error.png, skeletons.png.

    ``flip_features="extracted"`` (resolved, ``augment.resolve_flip_features``; the dataset opened
    with its flip maps): the flip test's mirrored pass reads the store's ``feat_flip`` maps, so each
    batch reads both map sets; ``"mirrored"`` mirrors the unflipped maps."""
    ranks = ranks or Ranks.current()
    if dataset.inputs.target_m is None:
        raise ValueError(f"{dataset.store_path} has no gt3d: nothing to evaluate against")
    batches = FrameBatchSampler(len(dataset), batch_size, shuffle=False).batches()[ranks.rank::ranks.world]
    pred_m = np.zeros(dataset.inputs.target_m.shape, dtype=np.float32)  # (N, J, 3)
    extracted = flip_test and flip_features == "extracted" and getattr(dataset, "has_flip_maps", False)
    if batches:
        requests = [BatchRequest(b, ("feat", "feat_flip")) for b in batches] if extracted else batches
        loader = make_loader(dataset, requests, workers=workers, pin_memory=device.type == "cuda")
        pred_m = predict(model, loader, device=device, flip_test=flip_test, amp=amp, num_items=len(dataset))
    pred_m = ranks.sum_array(pred_m)
    pred_mm, gt_mm = pred_m * MM_PER_M, dataset.inputs.target_m * MM_PER_M
    metrics, written = None, {}
    if ranks.main:
        metrics = compute_metrics(pred_mm, gt_mm, dataset.inputs.labels, dataset_type, reroot=reroot)
        metrics["flip_test"] = flip_test
        metrics["flip_features"] = ("extracted" if extracted else "mirrored") if flip_test else None
        metrics["reroot"] = resolve_reroot(reroot, dataset_type)
        metrics.update(extra or {})
        if out_dir is not None:
            written = write_report(metrics, Path(out_dir), pred_mm=pred_mm, gt_mm=gt_mm, title=title)
    return EvalResult(ranks.from_main(metrics), pred_mm, gt_mm, dataset.inputs.frames, written)


def evaluate_checkpoint(cfg: dict, checkpoint: Path, store_path: Path, *, out_dir: Path, device: str = "auto",
                        workers: int | None = None, batch_size: int | None = None, flip_test: bool | None = None,
                        title: str = "") -> EvalResult:
    """Evaluate a lifter checkpoint on the config's test split of a store (what `capf eval` runs).

    ``cfg`` is completed from the base (``lift_settings``); the model is rebuilt from it and the
    store's levels, and the checkpoint's weights must fit it."""
    from stages.distributed import resolve_device
    from stages.lift.augment import resolve_flip_features
    from stages.lift.build import build_lifter, geometry_from_store
    from stages.lift.checkpoints import load_checkpoint_file, load_weights
    from stages.lift.ground_truth_kind import check_checkpoint_joints_3d
    from stages.lift.runtime import resolve_amp
    from stages.lift.settings import lift_settings

    cfg = lift_settings(cfg)
    tcfg, ecfg = cfg["train"], cfg["eval"]
    store = FeatureStore.open(store_path)
    geometry = geometry_from_store(cfg, store)
    flip_test = bool(ecfg["flip_test"] if flip_test is None else flip_test)
    flip_features = resolve_flip_features(ecfg["flip_features"], store, "eval.flip_features")
    model = build_lifter(cfg, geometry)
    state = load_checkpoint_file(Path(checkpoint))
    frames = select_frames(store, cfg["data"]["test_subjects"])
    check_checkpoint_joints_3d(state.get("meta", {}).get("joints_3d"), store, frames, Path(checkpoint))
    load_weights(model, state, Path(checkpoint))
    torch_device = resolve_device(device)
    model.to(torch_device)
    dataset = lift_dataset(model, store.path, frames, geometry.names, train_cfg=tcfg, data_cfg=cfg["data"],
                           flip_features=flip_features if flip_test else "mirrored")
    return evaluate(model, dataset, device=torch_device, batch_size=int(batch_size or ecfg["batch_size"]),
                    workers=workers if workers is not None else tcfg["workers"],
                    flip_test=flip_test, flip_features=flip_features,
                    amp=resolve_amp(tcfg["amp"], torch_device), dataset_type=evaluation_protocol(cfg, store),
                    out_dir=out_dir, title=title, reroot=ecfg["reroot"],
                    extra={"checkpoint": str(checkpoint), "config": title, "store": str(store.path)})
