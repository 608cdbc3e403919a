"""Parameters and FLOPs per output frame of a lifter (paper Table 3's "Params" and "FLOPs", Table 6's
per-frame cost of the temporal models: one window of T frames per output frame).

FLOPs = 2 x multiply-adds, counted by torch's own ``torch.utils.flop_counter.FlopCounterMode`` on a
batch of one frame. That counter knows matrix products (every ``nn.Linear``, the ``@`` that
sums the deformable points) and fused attention on GPU; it ignores element-wise work (LayerNorm,
GELU, softmax, tanh, additions), as the paper's counter does. Two ops it does not know are counted
here:

* ``grid_sample`` (bilinear): 4 multiply-adds per channel per sampled point, i.e.
  8 FLOPs x C x (number of points); the interpolation weights themselves are not counted.
* CPU fused attention (``_scaled_dot_product_flash_attention_for_cpu``): the same formula torch
  uses for the GPU kernels, q @ k^T plus attn @ v, so CPU and GPU counts agree.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from stages.lift.model import ContextAwarePoseFormer
from stages.lift.temporal import TemporalLifter

aten = torch.ops.aten

PAPER_FLOPS_PER_FRAME = {"deformable": 609.9e6, "none": 446.0e6}  # Table 3, HRNet-W32 levels


def grid_sample_flop(input_shape, grid_shape, *args, out_shape=None, **kwargs) -> int:
    """Bilinear ``grid_sample``: 4 multiply-adds per channel per output point."""
    n, c = input_shape[:2]
    points = math.prod(grid_shape[1:-1])
    return 2 * 4 * n * c * points


def cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """CPU fused attention, counted like torch counts the CUDA kernels."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


EXTRA_FLOP_FORMULAS = {
    aten.grid_sampler_2d: grid_sample_flop,
    aten.cudnn_grid_sampler: grid_sample_flop,
    aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa_flop,
}


def default_level_shapes(model: ContextAwarePoseFormer) -> list[tuple[int, int, int]]:
    """``(C_l, H_l, W_l)`` of each level for the model's input size: H_in / s_l x W_in / s_l."""
    w_in, h_in = model.input_size_wh
    return [(c, h_in // s, w_in // s) for c, s in zip(model.level_channels, model.level_strides)]


def count_params(model: torch.nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _example_inputs(model: torch.nn.Module, shapes: list[tuple[int, int, int]]) -> tuple:
    """One output frame's inputs: a frame with its maps, or (temporal) one window of T frames with
    the joint features of each level (``(T, J, C_l)``) and the ``(1, T)`` window index."""
    param = next(model.parameters())
    device, dtype = param.device, param.dtype
    gen = torch.Generator().manual_seed(0)
    j = model.num_joints
    if isinstance(model, TemporalLifter):
        t = model.frames
        pose2d = (torch.rand(t, j, 2, generator=gen) * 2 - 1).to(device, dtype)
        joint_feats = [torch.randn(t, j, s[0], generator=gen).to(device, dtype) for s in shapes]
        return pose2d, joint_feats, torch.arange(t, device=device)[None]
    pose2d = (torch.rand(1, j, 2, generator=gen) * 2 - 1).to(device, dtype)
    feats = [torch.randn(1, *s, generator=gen).to(device, dtype) for s in shapes]
    w_in, h_in = model.input_size_wh
    ref_px = (torch.rand(1, j, 2, generator=gen) * torch.tensor([w_in - 1.0, h_in - 1.0])).to(device, dtype)
    return pose2d, feats, ref_px


@torch.no_grad()
def count_cost(model: ContextAwarePoseFormer | TemporalLifter, *,
               level_shapes: Sequence[tuple[int, int, int]] | None = None) -> dict[str, Any]:
    """Parameters and forward FLOPs of one output frame.

    For a single-frame lifter that is one frame with its maps. For a temporal lifter it is one
    window of T frames (the T per-frame encodings, the temporal transformer, the head), the
    convention of PoseFormer's and the paper's FLOPs; ``flops_per_frame_shared`` adds what
    predicting every frame of a long video costs per frame when neighbouring windows share their
    per-frame encodings (one per frame) as ``stages.lift.sequence_dataset`` batches do.

    Args:
        model: the lifter (its training/eval mode is restored afterwards).
        level_shapes: ``(C_l, H_l, W_l)`` per level; ``None`` = the model's input size / strides.
    Returns:
        ``dict(params=int, flops_per_frame=int, breakdown={top-level module: flops},
        by_op={aten op name: flops})`` (+ ``frames``, ``flops_per_frame_shared`` for a temporal
        lifter). ``breakdown`` sums to ``flops_per_frame``.
    """
    shapes = list(level_shapes) if level_shapes is not None else default_level_shapes(model)
    inputs = _example_inputs(model, shapes)
    was_training = model.training
    model.eval()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
        with counter:
            model(*inputs)
    finally:
        model.train(was_training)

    counts = counter.get_flop_counts()
    root = type(model).__name__
    # The counter books every op under each module on the call stack; a ModuleList is never
    # called itself, so a child's flops are those of its shallowest recorded descendants.
    breakdown: dict[str, int] = defaultdict(int)
    for name, ops in counts.items():
        parts = name.split(".")
        if parts[0] != root or len(parts) < 2:
            continue
        if any(".".join(parts[:k]) in counts for k in range(2, len(parts))):
            continue  # already inside a recorded ancestor below the root
        breakdown[parts[1]] += sum(ops.values())
    total = counter.get_total_flops()
    # ops run by the root module itself (the initial sampling of the maps at the joints)
    unattributed = total - sum(breakdown.values())
    if unattributed:
        breakdown["(top level)"] = unattributed
    by_op = {str(op).split(".")[-1] if "." in str(op) else str(op): n
             for op, n in counts.get("Global", {}).items()}
    cost = dict(params=count_params(model), flops_per_frame=int(total), breakdown=dict(breakdown), by_op=by_op)
    if isinstance(model, TemporalLifter):
        per_frame_encoding = breakdown.get("frame_encoder", 0) / model.frames
        cost.update(frames=model.frames,
                    flops_per_frame_shared=int(round(total - breakdown.get("frame_encoder", 0) + per_frame_encoding)))
    return cost
