"""Evaluation of a lifter on a store's test frames: predictions (with flip test), metrics, report.

Human3.6M-style stores (an ``index/action`` table) get protocols 1 and 2 per action, averaged over
actions and over frames, plus MPJVE where consecutive frames of one video are present; MPI-INF-3DHP
stores get PCK@150 mm and AUC besides; every kind gets ``mpjpe`` and ``p_mpjpe`` (mm).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stages.lift.augment import FlipGeometry, flip_back, flip_batch
from stages.lift.dataset import MM_PER_M, CacheBatchDataset, FrameBatchSampler, make_loader, to_device
from stages.lift.metrics import evaluate_3dhp, evaluate_h36m, mpjpe, p_mpjpe, per_video_errors, root_relative
from stages.lift.report import write_report


def autocast(device: torch.device, amp: str | None):
    """bf16/fp16 autocast on CUDA; a no-op elsewhere or when amp is None."""
    if amp is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def forward_batch(model: nn.Module, batch: dict) -> torch.Tensor:
    """``(B, J, 3)`` prediction for a device batch: the one place a batch meets a model.

    A batch with a ``window`` key holds temporal windows (``stages.lift.sequence_dataset``): the
    frames' 2D joints and joint features and a ``(B, T)`` index into them; any other holds single
    frames with their maps (``stages.lift.dataset``)."""
    if "window" in batch:
        return model(batch["pose2d"], batch["joint_feats"], batch["window"])
    return model(batch["pose2d"], batch["feats"], batch["ref_px"])


@torch.no_grad()
def predict(model: nn.Module, loader, *, device: torch.device, flip_test: bool, amp: str | None = None,
            geometry: FlipGeometry | None = None, num_items: int | None = None) -> np.ndarray:
    """Predictions ``(N, J, 3)`` float32 (the model's units) in dataset order.

    Flip test: the mean of the prediction and the mirrored-back prediction of the mirrored batch.
    """
    was_training = model.training
    model.eval()
    geometry = geometry or FlipGeometry.of(model)
    preds: np.ndarray | None = None
    try:
        for batch in loader:
            batch = to_device(batch, device)
            with autocast(device, amp):
                pred = forward_batch(model, batch).float()
                if flip_test:
                    pred = (pred + flip_back(forward_batch(model, flip_batch(batch, geometry)).float())) / 2
            if preds is None:
                preds = np.zeros((num_items or len(loader.dataset), *pred.shape[1:]), dtype=np.float32)
            preds[batch["pos"].cpu().numpy()] = pred.cpu().numpy()
    finally:
        model.train(was_training)
    if preds is None:
        raise ValueError("no frames to predict")
    return preds


def compute_metrics(pred_mm: np.ndarray, gt_mm: np.ndarray, labels: dict, dataset_type: str) -> dict:
    """Metrics by dataset kind; inputs ``(N, 17, 3)`` mm, labels from ``LiftInputs.labels``."""
    if "action" in labels and dataset_type not in ("mpi_inf_3dhp", "3dhp"):
        metrics = evaluate_h36m(pred_mm, gt_mm, list(labels["action"]), labels.get("video"), labels.get("frame"))
        if "video" in labels and "frame" in labels:
            metrics["per_video"] = per_video_errors(pred_mm, gt_mm, labels["video"], labels["frame"])
        return metrics
    pred, gt = root_relative(pred_mm), root_relative(gt_mm)
    errors = np.linalg.norm(pred - gt, axis=-1)
    metrics = {"mpjpe": float(mpjpe(pred, gt).mean()), "p_mpjpe": float(p_mpjpe(pred, gt).mean()),
               "per_joint_mpjpe": [float(v) for v in errors.mean(axis=0)], "num_frames": int(len(pred))}
    if dataset_type in ("mpi_inf_3dhp", "3dhp"):
        metrics.update(evaluate_3dhp(pred, gt, already_root_relative=True))
    return metrics


@dataclass
class EvalResult:
    metrics: dict
    pred_mm: np.ndarray  # (N, 17, 3) root-relative
    gt_mm: np.ndarray
    frames: np.ndarray   # store indices
    written: dict[str, Path]


def evaluate(model: nn.Module, dataset: CacheBatchDataset, *, device: torch.device, batch_size: int = 512,
             workers: int | str = "auto", flip_test: bool = True, amp: str | None = None, dataset_type: str = "h36m",
             out_dir: Path | None = None, title: str = "", extra: dict | None = None) -> EvalResult:
    """Predict every frame of ``dataset``, compute the metrics and (with ``out_dir``) write the report:
    metrics.json (``extra`` merged in), table.md, per_joint_error.png, skeletons.png."""
    if dataset.inputs.target_m is None:
        raise ValueError(f"{dataset.store_path} has no gt3d: nothing to evaluate against")
    sampler = FrameBatchSampler(len(dataset), batch_size, shuffle=False)
    loader = make_loader(dataset, sampler, workers=workers, pin_memory=device.type == "cuda")
    pred_m = predict(model, loader, device=device, flip_test=flip_test, amp=amp)
    pred_mm, gt_mm = pred_m * MM_PER_M, dataset.inputs.target_m * MM_PER_M
    metrics = compute_metrics(pred_mm, gt_mm, dataset.inputs.labels, dataset_type)
    metrics["flip_test"] = flip_test
    metrics.update(extra or {})
    written = {}
    if out_dir is not None:
        written = write_report(metrics, Path(out_dir), pred_mm=pred_mm, gt_mm=gt_mm, title=title)
    return EvalResult(metrics, pred_mm, gt_mm, dataset.inputs.frames, written)
