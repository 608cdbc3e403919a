"""Where one batch meets the lifter: precision, the forward, and the optimizer step.

`capf train` and `make bench` both call ``train_step``, so the benchmark times exactly the step
that training runs (autocast, GradScaler, the flip of a mirrored batch, the loss weight of DDP).
Validation, `capf eval`, the demo and the ablations all predict through ``forward_batch``.

One step: (mirror the batch) -> forward under autocast -> MPJPE in metres (fp32) -> scaled
backward -> AdamW step. bf16 autocast needs no GradScaler; fp16 (GPUs without bf16) uses one.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from stages.lift.augment import FlipGeometry, flip_batch
from stages.lift.model import mpjpe_loss


def resolve_amp(amp, device: torch.device) -> str | None:
    """train.amp: True (bf16 where supported, else fp16), "bf16", "fp16" or False; CUDA only."""
    if not amp or device.type != "cuda":
        return None
    if amp is True:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp not in ("bf16", "fp16"):
        raise ValueError(f"train.amp must be True, False, 'bf16' or 'fp16', got {amp!r}")
    return amp


def autocast(device: torch.device, amp: str | None):
    """bf16/fp16 autocast on CUDA; a no-op elsewhere or when amp is None."""
    if amp is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


def forward_batch(model: nn.Module, batch: dict) -> torch.Tensor:
    """``(B, J, 3)`` prediction for a device batch, dispatched on the batch's keys.

    A batch with a ``window`` key holds temporal windows (``stages.lift.sequence_dataset``): the
    frames' 2D joints and joint features and a ``(B, T)`` index into them; any other holds single
    frames with their maps (``stages.lift.dataset``)."""
    if "window" in batch:
        return model(batch["pose2d"], batch["joint_feats"], batch["window"])
    return model(batch["pose2d"], batch["feats"], batch["ref_px"])


def build_optimizer(core: nn.Module, train_cfg: dict, amp: str | None):
    """(AdamW over the model's parameter groups, per-epoch exponential decay, GradScaler)."""
    lr = float(train_cfg["lr"])
    optimizer = torch.optim.AdamW(core.param_groups(lr, float(train_cfg["offset_lr_mult"])), lr=lr,
                                  weight_decay=float(train_cfg["weight_decay"]))
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=float(train_cfg["lr_decay"]))
    return optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=amp == "fp16")


def train_step(model: nn.Module, batch: dict, optimizer, scaler, amp: str | None, device: torch.device, *,
               flip: FlipGeometry | None = None, weight: float = 1.0) -> torch.Tensor:
    """One optimizer step on a device batch; returns the (weighted) loss, detached.

    ``flip``: mirror this batch first (the training loop decides per batch). ``weight`` is
    ``FrameBatchSampler.loss_weight`` (1.0 in one process, where multiplying by it is exact)."""
    if flip is not None:
        batch = flip_batch(batch, flip)
    with autocast(device, amp):
        pred = forward_batch(model, batch)
    loss = mpjpe_loss(pred.float(), batch["target"]) * weight
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach()
