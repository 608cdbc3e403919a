"""Temporal lifters over windows of T frames (paper App. C, Table 6): CA-PF-S and PoseFormer.

Both lift the centre frame of a window of T frames in two stages, a per-frame encoder and a
temporal transformer, and differ in what one temporal token is:

* :class:`ContextAwarePoseFormerS` (CA-PF-S, the paper's App. C): per frame, the single-frame
  lifter without its deformable module (pose token + one context token per level read from the
  cache's ``joint_feat``, Pose-Context Feature Fusion, Spatial Inter-joint Modeling, LayerNorm)
  gives one (L+1)*C vector per joint. The temporal transformer then models **each joint
  independently** over time: J sequences of T tokens of (L+1)*C dims, one temporal positional
  embedding shared by the joints, the same weights for every joint. A 1D convolution over the
  frames (T -> 1) gathers each joint's sequence and a LayerNorm + Linear((L+1)*C -> 3) gives its
  3D position. Joints meet only in the per-frame inter-joint stage. "S" is a smaller C (the
  paper's C = 128 makes 640-wide tokens, J of them per frame); see ``configs/temporal/``.
* :class:`PoseFormer` (Zheng et al. 2021): per frame, each joint's 2D position embedded to 32 dims,
  a spatial transformer over the J joint tokens and a LayerNorm; the J x 32 values of a frame are
  one temporal token (17 x 32 = 544): a temporal transformer over the T frame tokens, a 1D
  convolution over the frames (its "weighted mean"), and LayerNorm + Linear(544 -> J*3).

Both read the same batches (:mod:`stages.lift.sequence_dataset`): windows share frames, so
``forward`` takes the U distinct frames of a batch once and a ``(B, T)`` index into them; the
per-frame stage runs U times, not B*T. ``lift_window`` is inference on one window (``capf infer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stages.lift.model import ContextAwarePoseFormer, fp32
from stages.lift.transformer import TransformerStack, drop_path_rates

TEMPORAL_CONTEXT_MODES = ("none", "concat", "fusion")
POSEFORMER_JOINT_DIM = 32  # PoseFormer's per-joint embedding (embed_dim_ratio)


class TemporalLifter(nn.Module):
    """What CA-PF-S and PoseFormer share: the temporal stage, the window interface and the
    geometry the data side reads off a lifter (levels, crop size, reference convention).

    Subclasses provide ``frame_encoder`` (``encode_frames``: ``(U, J, 2)`` + L x ``(U, J, C_l)`` ->
    ``(U, J, d)``) and ``sequences`` (how a window's ``(B, T, J, d)`` tokens become the temporal
    transformer's sequences ``(N, T, D)``); the head maps each sequence's gathered ``(N, D)`` to
    ``B * J * 3`` values.
    """

    def __init__(self, *, frames: int, token_dim: int, out_dim: int, temporal_depth: int, temporal_heads: int,
                 context: str, level_channels: Sequence[int], level_strides: Sequence[int],
                 input_size_wh: tuple[int, int], ref_convention: str, num_joints: int, mlp_ratio: float,
                 drop_path_rate: float, qkv_bias: bool, drop_rate: float, attn_drop_rate: float,
                 norm_eps: float) -> None:
        super().__init__()
        if frames < 1 or frames % 2 == 0:
            raise ValueError(f"frames must be odd (the output is the centre frame), got {frames}")
        self.frames = int(frames)
        self.num_joints = int(num_joints)
        self.context = context
        self.level_channels = tuple(int(c) for c in level_channels)
        self.level_strides = tuple(int(s) for s in level_strides)
        self.input_size_wh = (int(input_size_wh[0]), int(input_size_wh[1]))
        self.ref_convention = ref_convention
        self.token_dim = int(token_dim)  # D: one temporal token
        self.temporal_pos_embed = nn.Parameter(torch.zeros(1, self.frames, self.token_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.temporal = TransformerStack(self.token_dim, depth=temporal_depth, heads=temporal_heads,
                                         mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                                         attn_drop=attn_drop_rate,
                                         drop_path=drop_path_rates(drop_path_rate, temporal_depth), norm_eps=norm_eps)
        self.temporal_norm = nn.LayerNorm(self.token_dim, eps=norm_eps)
        self.frame_weights = nn.Conv1d(self.frames, 1, kernel_size=1)  # the 1D convolution over the frames
        self.head = nn.Sequential(nn.LayerNorm(self.token_dim, eps=norm_eps), nn.Linear(self.token_dim, out_dim))

    def encode_frames(self, pose2d: Tensor, joint_feats: Sequence[Tensor] = ()) -> Tensor:
        """Per-frame stage: ``(U, J, 2)`` and L x ``(U, J, C_l)`` -> ``(U, J, d)``."""
        raise NotImplementedError

    def sequences(self, tokens: Tensor) -> Tensor:
        """``(B, T, J, d)`` -> the temporal transformer's sequences ``(N, T, D)``."""
        raise NotImplementedError

    def forward_temporal(self, tokens: Tensor) -> Tensor:
        """Temporal stage: per-frame tokens of B windows ``(B, T, J, d)`` -> centre-frame joints ``(B, J, 3)``."""
        if tokens.shape[1] != self.frames:
            raise ValueError(f"model expects windows of {self.frames} frames, got {tokens.shape[1]}")
        x = self.pos_drop(self.sequences(tokens) + self.temporal_pos_embed)
        x = self.temporal_norm(self.temporal(x))
        x = self.frame_weights(x)[:, 0]                                    # (N, D)
        return fp32(self.head, x).view(tokens.shape[0], self.num_joints, 3)  # fp32 like the per-frame head

    def forward(self, pose2d: Tensor, joint_feats: Sequence[Tensor], window: Tensor) -> Tensor:
        """Lift the centre frame of each window.

        Args:
            pose2d: ``(U, J, 2)`` normalised 2D joints of the U distinct frames the windows use.
            joint_feats: L tensors ``(U, J, C_l)`` (any float dtype); empty without context.
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


class ContextAwarePoseFormerS(TemporalLifter):
    """CA-PF-S (paper App. C): the per-frame CA-PF without deformable sampling, then a per-joint
    temporal transformer over T tokens of (L+1)*C dims.

    Args:
        frames: T, the window length (odd; 1, 3, 9, 27, 81 in the paper).
        context: ``"fusion"`` (CA-PF-S), ``"concat"`` (step 1's context) or ``"none"`` (no context:
            the per-joint temporal design on 2D alone, joint tokens of (L+1)*C).
        embed_dim: C; the per-joint temporal token is (L+1)*C wide.
        temporal_depth, temporal_heads: the temporal transformer.
        level_channels, level_strides, input_size_wh, num_joints, depth, spatial_heads, fusion_heads,
        mlp_ratio, drop_path_rate, ref_convention, qkv_bias, drop_rate, attn_drop_rate, norm_eps: the
        per-frame lifter's (:class:`ContextAwarePoseFormer`); the temporal stage uses the MLP ratio,
        dropout, stochastic depth and eps too.
    """

    def __init__(self, *, frames: int = 27, context: str = "fusion", embed_dim: int = 32,
                 temporal_depth: int = 4, temporal_heads: int = 8,
                 level_channels: Sequence[int] = (32, 64, 128, 256), level_strides: Sequence[int] = (4, 8, 16, 32),
                 input_size_wh: tuple[int, int] = (192, 256), num_joints: int = 17, depth: int = 4,
                 spatial_heads: int = 8, fusion_heads: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.1,
                 ref_convention: str = "mmpose", qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, norm_eps: float = 1e-6) -> None:
        if context not in TEMPORAL_CONTEXT_MODES:
            raise ValueError(f"a temporal lifter's context must be one of {TEMPORAL_CONTEXT_MODES} "
                             f"(deformable sampling needs the maps), got {context!r}")
        joint_dim = (1 + len(level_channels)) * embed_dim
        super().__init__(frames=frames, token_dim=joint_dim, out_dim=3, temporal_depth=temporal_depth,
                         temporal_heads=temporal_heads, context=context, level_channels=level_channels,
                         level_strides=level_strides, input_size_wh=input_size_wh, ref_convention=ref_convention,
                         num_joints=num_joints, mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate, qkv_bias=qkv_bias,
                         drop_rate=drop_rate, attn_drop_rate=attn_drop_rate, norm_eps=norm_eps)
        self.frame_encoder = ContextAwarePoseFormer(
            level_channels=level_channels, level_strides=level_strides, input_size_wh=input_size_wh,
            context=context, num_joints=num_joints, embed_dim=embed_dim, depth=depth, spatial_heads=spatial_heads,
            fusion_heads=fusion_heads, mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate,
            ref_convention=ref_convention, head_dim=None, qkv_bias=qkv_bias, drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate, norm_eps=norm_eps)

    def encode_frames(self, pose2d: Tensor, joint_feats: Sequence[Tensor] = ()) -> Tensor:
        """``(U, J, 2)``, L x ``(U, J, C_l)`` -> normalised joint tokens ``(U, J, (L+1)*C)``."""
        return self.frame_encoder.forward_from_joint_feats(pose2d, joint_feats)

    def sequences(self, tokens: Tensor) -> Tensor:
        """One sequence per (window, joint): ``(B, T, J, E)`` -> ``(B*J, T, E)``."""
        b, t, j, e = tokens.shape
        return tokens.permute(0, 2, 1, 3).reshape(b * j, t, e)


class PoseFormerSpatial(nn.Module):
    """PoseFormer's per-frame stage: 2D joint -> ``joint_dim`` embedding + a learnable joint position
    embedding (zeros at start) -> spatial transformer over the J joints -> LayerNorm.
    ``(U, J, 2) -> (U, J, joint_dim)``."""

    def __init__(self, *, num_joints: int, joint_dim: int, depth: int, heads: int, mlp_ratio: float,
                 drop_path_rate: float, qkv_bias: bool, drop_rate: float, attn_drop_rate: float,
                 norm_eps: float) -> None:
        super().__init__()
        self.coord_embed = nn.Linear(2, joint_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, joint_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.spatial = TransformerStack(joint_dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                                        drop=drop_rate, attn_drop=attn_drop_rate,
                                        drop_path=drop_path_rates(drop_path_rate, depth), norm_eps=norm_eps)
        self.norm = nn.LayerNorm(joint_dim, eps=norm_eps)

    def forward(self, pose2d: Tensor) -> Tensor:
        x = self.pos_drop(fp32(self.coord_embed, pose2d) + self.pos_embed)
        return self.norm(self.spatial(x))


class PoseFormer(TemporalLifter):
    """PoseFormer (Zheng et al. 2021) on the 2D joints alone: frame tokens of J x ``joint_dim``.

    Args:
        frames: T (odd).
        joint_dim: the per-joint embedding (PoseFormer: 32; 17 x 32 = 544 per frame token).
        depth, spatial_heads: the spatial transformer (PoseFormer: 4 layers, 8 heads).
        temporal_depth, temporal_heads: the temporal transformer (PoseFormer: 4 layers, 8 heads).
        level_channels, level_strides, input_size_wh, ref_convention: the store's geometry, kept so
            every lifter answers the data side alike; PoseFormer reads no features.
        num_joints, mlp_ratio, drop_path_rate, qkv_bias, drop_rate, attn_drop_rate, norm_eps: as
            PoseFormer's (MLP ratio 2, stochastic depth 0.1, eps 1e-6).
    """

    def __init__(self, *, frames: int = 27, joint_dim: int = POSEFORMER_JOINT_DIM, depth: int = 4,
                 spatial_heads: int = 8, temporal_depth: int = 4, temporal_heads: int = 8,
                 level_channels: Sequence[int] = (), level_strides: Sequence[int] = (),
                 input_size_wh: tuple[int, int] = (192, 256), ref_convention: str = "mmpose", num_joints: int = 17,
                 mlp_ratio: float = 2.0, drop_path_rate: float = 0.1, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, norm_eps: float = 1e-6) -> None:
        super().__init__(frames=frames, token_dim=num_joints * joint_dim, out_dim=num_joints * 3,
                         temporal_depth=temporal_depth, temporal_heads=temporal_heads, context="none",
                         level_channels=level_channels, level_strides=level_strides, input_size_wh=input_size_wh,
                         ref_convention=ref_convention, num_joints=num_joints, mlp_ratio=mlp_ratio,
                         drop_path_rate=drop_path_rate, qkv_bias=qkv_bias, drop_rate=drop_rate,
                         attn_drop_rate=attn_drop_rate, norm_eps=norm_eps)
        self.frame_encoder = PoseFormerSpatial(num_joints=num_joints, joint_dim=joint_dim, depth=depth,
                                               heads=spatial_heads, mlp_ratio=mlp_ratio, drop_path_rate=drop_path_rate,
                                               qkv_bias=qkv_bias, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                                               norm_eps=norm_eps)

    def encode_frames(self, pose2d: Tensor, joint_feats: Sequence[Tensor] = ()) -> Tensor:
        """``(U, J, 2)`` -> ``(U, J, joint_dim)``; joint features are not read."""
        return self.frame_encoder(pose2d)

    def sequences(self, tokens: Tensor) -> Tensor:
        """One sequence per window of frame tokens: ``(B, T, J, d)`` -> ``(B, T, J*d)``."""
        return tokens.flatten(2)


TEMPORAL_LIFTERS: dict[str, type[TemporalLifter]] = {cls.__name__: cls for cls in (ContextAwarePoseFormerS, PoseFormer)}
