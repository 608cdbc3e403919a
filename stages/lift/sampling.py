"""Where a joint lands on a feature map, and bilinear sampling there.

The cache stores every joint in *detector-input pixels* ``ref_px`` (the crop the detector saw,
e.g. 192x256 w x h). The feature pyramid's level ``l`` has stride ``s_l`` and size ``H_l x W_l``.
Two conventions map a pixel to ``grid_sample``'s normalised coordinates ``g`` in [-1, 1]
(both with ``align_corners=True``, where g = -1 / +1 are the centres of the first / last cell):

``"mmpose"`` (default, geometrically right for mmpose detectors):
    mmpose's heatmap codecs put feature cell ``u`` of a stride-``s`` map at input pixel
    ``x = u * s`` (keypoints are divided by input_size / heatmap_size, no half-pixel shift).
    So level ``l`` is sampled at ``u = x / s_l``: ``g = 2 * (x / s_l) / (W_l - 1) - 1``
    (same for y with ``H_l``). Each level gets its own reference point.

``"authors"`` (parity with the released CA-PF checkpoints):
    ``g = x / (W_in / 2) - 1`` and ``g = y / (H_in / 2) - 1`` for every level, i.e. the whole
    input width is stretched over the W_l - 1 cell spacings. This is a small misuse of
    ``align_corners`` (level 0 of a 192-wide crop lands at u = x * 47/192 instead of x / 4), kept
    only so weights trained that way read the features they were trained on.

Offsets of the deformable layers are added in these normalised coordinates, as the authors do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

REF_CONVENTIONS = ("mmpose", "authors")
# Padding of the cache's ``joint_feat`` samples at the joints, by convention: the authors' code
# samples the initial tokens with zero padding. The single-frame model picks its own padding
# (``model.sampling_padding``) because it samples the maps itself.
INITIAL_SAMPLE_PADDING = {"mmpose": "border", "authors": "zeros"}


def ref_px_to_grid(ref_px: Tensor, *, level_hw: Sequence[tuple[int, int]],
                   level_strides: Sequence[int], input_size_wh: tuple[int, int],
                   convention: str = "mmpose") -> Tensor:
    """Detector-input pixels -> per-level ``grid_sample`` coordinates (``align_corners=True``).

    Args:
        ref_px: ``(B, J, 2)`` joints in detector-input pixels (x, y).
        level_hw: ``(H_l, W_l)`` of each of the L levels.
        level_strides: stride ``s_l`` of each level in input pixels.
        input_size_wh: detector input size (W_in, H_in); used by ``"authors"`` only.
        convention: ``"mmpose"`` or ``"authors"`` (see the module docstring).
    Returns:
        ``(B, L, J, 2)`` normalised (x, y) in grid_sample's [-1, 1] frame, float32 or wider.
    """
    if convention not in REF_CONVENTIONS:
        raise ValueError(f"ref_convention must be one of {REF_CONVENTIONS}, got {convention!r}")
    if len(level_hw) != len(level_strides):
        raise ValueError(f"{len(level_hw)} feature maps but {len(level_strides)} strides")
    ref = ref_px if ref_px.dtype in (torch.float32, torch.float64) else ref_px.float()
    grids = []
    for (h, w), stride in zip(level_hw, level_strides):
        if convention == "mmpose":
            # cell index u = x / s, then align_corners=True maps u in [0, W-1] onto [-1, 1]
            span = ref.new_tensor([max(w - 1, 1), max(h - 1, 1)])
            grids.append(2 * (ref / stride) / span - 1)
        else:
            half = ref.new_tensor([input_size_wh[0] / 2, input_size_wh[1] / 2])
            grids.append(ref / half - 1)
    return torch.stack(grids, dim=1)


def grid_to_ref_px(grid: Tensor, *, level: int, level_hw: Sequence[tuple[int, int]],
                   level_strides: Sequence[int], input_size_wh: tuple[int, int],
                   convention: str = "mmpose") -> Tensor:
    """Inverse of :func:`ref_px_to_grid` for one level: ``(..., 2)`` grid coords -> detector-input px.

    Where a deformable layer sampled level ``level``, in the crop's pixels (for pictures).
    """
    if convention not in REF_CONVENTIONS:
        raise ValueError(f"ref_convention must be one of {REF_CONVENTIONS}, got {convention!r}")
    h, w = level_hw[level]
    if convention == "mmpose":
        span = grid.new_tensor([max(w - 1, 1), max(h - 1, 1)])
        return (grid + 1) / 2 * span * level_strides[level]
    half = grid.new_tensor([input_size_wh[0] / 2, input_size_wh[1] / 2])
    return (grid + 1) * half


def sample_bilinear(feat: Tensor, grid: Tensor, *, padding_mode: str = "border") -> Tensor:
    """Bilinearly sample a feature map at P points per joint.

    Args:
        feat: ``(B, C, H, W)`` one level's map (same dtype as ``grid``).
        grid: ``(B, J, P, 2)`` normalised (x, y), ``align_corners=True`` frame.
    Returns:
        ``(B, J, P, C)`` the sampled features, channels last for the projections that follow.
    """
    out = F.grid_sample(feat, grid, mode="bilinear", padding_mode=padding_mode, align_corners=True)
    return out.permute(0, 2, 3, 1)  # (B, C, J, P) -> (B, J, P, C)


def sample_joint_features(feats: Sequence[Tensor], ref_px: Tensor, *, level_strides: Sequence[int],
                          input_size_wh: tuple[int, int] = (192, 256), convention: str = "mmpose",
                          padding_mode: str = "border") -> list[Tensor]:
    """Each level's feature at each joint: the initial context tokens, or the cache's ``joint_feat``.

    Sampling is done in float32 whatever the maps' dtype (the cache stores fp16), so the samples
    match what :class:`~stages.lift.model.ContextAwarePoseFormer` computes internally.

    Args:
        feats: L maps ``(B, C_l, H_l, W_l)``.
        ref_px: ``(B, J, 2)`` joints in detector-input pixels.
    Returns:
        L tensors ``(B, J, C_l)`` float32.
    """
    grid = ref_px_to_grid(ref_px.float(), level_hw=[tuple(f.shape[-2:]) for f in feats],
                          level_strides=level_strides, input_size_wh=input_size_wh,
                          convention=convention)
    return [sample_bilinear(f.float(), grid[:, l].unsqueeze(2), padding_mode=padding_mode)[:, :, 0]
            for l, f in enumerate(feats)]
