"""Temporal lifters over windows of T frames (paper App. C, Table 6): CA-PF-S and PoseFormer.

``TemporalPoseFormer`` lifts the centre frame of a window of T frames:

1. per frame, the single-frame lifter without its deformable module
   (:class:`~stages.lift.model.ContextAwarePoseFormer` called through ``forward_from_joint_feats``):
   the pose token and one context token per level (the cache's ``joint_feat``, the maps sampled at
   the joints) -> Pose-Context Feature Fusion -> Spatial Inter-joint Modeling -> its head,
   LayerNorm + Linear(E -> ``temporal_joint_dim``), which plays PoseFormer's ``Spatial_norm`` and
   narrows each joint to the width the temporal stage flattens (PoseFormer: 32 per joint; a
   (1+L)*C = 640-wide joint token x 17 joints would be an 10,880-wide frame token);
2. PoseFormer's temporal transformer over the T frame tokens of J * ``temporal_joint_dim`` dims,
   with a learnable zero-initialised temporal positional embedding, then LayerNorm;
3. PoseFormer's "weighted mean": a 1D convolution over the frame axis (T -> 1, kernel 1);
4. head LayerNorm + Linear(D -> J*3): the centre frame's root-relative 3D joints.

``context="fusion"`` is CA-PF-S ("pose + per-level joint-context tokens"); ``context="none"`` is the
PoseFormer baseline: the same network with no context tokens (so the two differ only in context).
``"concat"`` (step 1 of Table 3) also works; ``"deformable"`` does not, as it needs the maps.

Windows share frames, so ``forward`` takes the U distinct frames of a batch once and a ``(B, T)``
index into them (:mod:`stages.lift.sequence_dataset`); the per-frame stage runs U times, not B*T.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stages.lift.model import ContextAwarePoseFormer, fp32
from stages.lift.transformer import TransformerStack, drop_path_rates

TEMPORAL_CONTEXT_MODES = ("none", "concat", "fusion")


class TemporalPoseFormer(nn.Module):
    """CA-PF-S (context="fusion") or the PoseFormer temporal baseline (context="none") over T frames.

    Args:
        frames: T, the window length (odd; 1, 3, 9, 27, 81 in the paper).
        context: ``"fusion"`` (CA-PF-S), ``"none"`` (PoseFormer) or ``"concat"``.
        temporal_joint_dim: width of each joint in the temporal stage's frame token (PoseFormer: 32).
        temporal_depth, temporal_heads: the temporal transformer (PoseFormer: 4 layers, 8 heads).
        level_channels, level_strides, input_size_wh, num_joints, embed_dim, depth, spatial_heads,
        fusion_heads, mlp_ratio, drop_path_rate, ref_convention, qkv_bias, drop_rate,
        attn_drop_rate, norm_eps: the per-frame lifter's (:class:`ContextAwarePoseFormer`); also
        used by the temporal stage where they apply (MLP ratio, dropout, stochastic depth, eps).
    """

    def __init__(self, *, frames: int = 27, context: str = "fusion", temporal_joint_dim: int = 32,
                 temporal_depth: int = 4, temporal_heads: int = 8,
                 level_channels: Sequence[int] = (32, 64, 128, 256), level_strides: Sequence[int] = (4, 8, 16, 32),
                 input_size_wh: tuple[int, int] = (192, 256), num_joints: int = 17, embed_dim: int = 128,
                 depth: int = 4, spatial_heads: int = 8, fusion_heads: int = 8, mlp_ratio: float = 2.0,
                 drop_path_rate: float = 0.1, ref_convention: str = "mmpose", qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, norm_eps: float = 1e-6) -> None:
        super().__init__()
        if context not in TEMPORAL_CONTEXT_MODES:
            raise ValueError(f"a temporal lifter's context must be one of {TEMPORAL_CONTEXT_MODES} "
                             f"(deformable sampling needs the maps), got {context!r}")
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be odd (the output is the centre frame), got {frames}")
        self.frames = int(frames)
        self.num_joints = num_joints
        self.frame_encoder = ContextAwarePoseFormer(
            level_channels=level_channels, level_strides=level_strides, input_size_wh=input_size_wh,
            context=context, num_joints=num_joints, embed_dim=embed_dim, depth=depth, spatial_heads=spatial_heads,
            fusion_heads=fusion_heads, mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate,
            ref_convention=ref_convention, head_dim=temporal_joint_dim, qkv_bias=qkv_bias, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, norm_eps=norm_eps)
        self.temporal_dim = num_joints * temporal_joint_dim  # D: one frame token
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, self.frames, self.temporal_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.temporal = TransformerStack(self.temporal_dim, depth=temporal_depth, heads=temporal_heads,
                                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                                         attn_drop=attn_drop_rate,
                                         drop_path=drop_path_rates(drop_path_rate, temporal_depth), norm_eps=norm_eps)
        self.temporal_norm = nn.LayerNorm(self.temporal_dim, eps=norm_eps)
        self.frame_weights = nn.Conv1d(self.frames, 1, kernel_size=1)  # PoseFormer's weighted mean over T
        self.head = nn.Sequential(nn.LayerNorm(self.temporal_dim, eps=norm_eps),
                                  nn.Linear(self.temporal_dim, num_joints * 3))

    # what the data side and the flip augmentation read off a lifter
    @property
    def context(self) -> str:
        return self.frame_encoder.context

    @property
    def level_channels(self) -> tuple[int, ...]:
        return self.frame_encoder.level_channels

    @property
    def level_strides(self) -> tuple[int, ...]:
        return self.frame_encoder.level_strides

    @property
    def input_size_wh(self) -> tuple[int, int]:
        return self.frame_encoder.input_size_wh

    @property
    def ref_convention(self) -> str:
        return self.frame_encoder.ref_convention

    def encode_frames(self, pose2d: Tensor, joint_feats: Sequence[Tensor] = ()) -> Tensor:
        """Per-frame stage: ``(U, J, 2)`` and L x ``(U, J, C_l)`` -> frame tokens ``(U, D)``."""
        return self.frame_encoder.forward_from_joint_feats(pose2d, joint_feats).flatten(1)

    def forward_temporal(self, tokens: Tensor) -> Tensor:
        """Temporal stage: frame tokens of windows ``(B, T, D)`` -> centre-frame joints ``(B, J, 3)``."""
        if tokens.shape[1] != self.frames:
            raise ValueError(f"model expects windows of {self.frames} frames, got {tokens.shape[1]}")
        x = self.pos_drop(tokens + self.temporal_pos_embed)
        x = self.temporal_norm(self.temporal(x))
        x = self.frame_weights(x)[:, 0]                                      # (B, D)
        return fp32(self.head, x).view(-1, self.num_joints, 3)  # fp32 like the per-frame head

    def forward(self, pose2d: Tensor, joint_feats: Sequence[Tensor], window: Tensor) -> Tensor:
        """Lift the centre frame of each window.

        Args:
            pose2d: ``(U, J, 2)`` normalised 2D joints of the U distinct frames the windows use.
            joint_feats: L tensors ``(U, J, C_l)`` (any float dtype); empty for context="none".
            window: ``(B, T)`` int64 indices into the U frames, the target in the middle.
        Returns:
            ``(B, J, 3)`` root-relative 3D joints of the B target frames.
        """
        return self.forward_temporal(self.encode_frames(pose2d, joint_feats)[window])

    @torch.no_grad()
    def lift_window(self, pose2d: Tensor, joint_feats: Sequence[Tensor] = ()) -> Tensor:
        """Inference on one window: ``(T, J, 2)`` and L x ``(T, J, C_l)`` -> the centre frame's
        ``(J, 3)``. Pad a video's ends by repeating its edge frames (``stages.lift.sequences.windows``)."""
        window = torch.arange(self.frames, device=pose2d.device)[None]
        return self(pose2d, joint_feats, window)[0]

    def param_groups(self, base_lr: float, offset_lr_mult: float = 1.0) -> list[dict[str, Any]]:
        """One group: there are no sampling offsets in a model without deformable sampling."""
        return [{"name": "base", "params": [p for p in self.parameters() if p.requires_grad], "lr": base_lr}]
