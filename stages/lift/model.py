"""Context-Aware PoseFormer (Zhao et al., CVPR 2023): single-frame 2D -> 3D lifting that also reads
the 2D detector's multi-level feature maps around each joint.

Pipeline of ``forward`` (paper Fig. 2), for B frames, J joints, L levels, C = ``embed_dim``:

1. tokens ``(B, 1+L, J, C)``: the pose token ``Linear(2 -> C)`` of each joint and one context
   token per level (the level's map bilinearly sampled at the joint, ``Linear(C_l -> C)``),
   plus one zero-initialised learnable embedding per (modality, joint) ("unified" embedding);
2. Deformable Context Extraction (:mod:`stages.lift.deformable`), 4 layers;
3. Pose-Context Feature Fusion, 4 layers over the 1+L tokens of each joint;
4. flatten to J tokens of (1+L)*C, Spatial Inter-joint Modeling (PoseFormer), 4 layers;
5. head LayerNorm + Linear((1+L)*C -> 3) per joint: root-relative 3D in metres.

Once flattened, the unified embedding *is* PoseFormer's joint positional embedding, so there is no
separate one; this reproduces the authors' parameter count exactly (14,094,147 with HRNet-W32
levels).

Ablation switch ``context`` (paper Table 3):
``"none"`` step 0, PoseFormer single frame (``Linear(2 -> (1+L)*C)`` + joint embedding + step 4-5);
``"concat"`` step 1, steps 1, 4, 5 (sampled features concatenated with the pose embedding);
``"fusion"`` step 2, steps 1, 3, 4, 5; ``"deformable"`` step 3, everything.

Reference-point convention: ``ref_convention="mmpose"`` samples level l at cell ``u = x / s_l``
(``grid_sample`` with ``align_corners=True``: g = 2 (x / s_l) / (W_l - 1) - 1), which is where
mmpose's heatmap codecs put that cell; ``"authors"`` uses g = x / (W_in / 2) - 1 for every level,
for parity with the released checkpoints. Details in :mod:`stages.lift.sampling`.

Precision: ``coord_embed`` (joint coordinates in [-1, 1]) and the head (metres) always run in fp32,
autocast or not: bf16 keeps 8 bits of mantissa, steps of 1-2 px at the input and 2-4 mm at the
output on a 1000-px image, the size of the differences this model is judged on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from stages.lift.deformable import DeformableContextExtraction
from stages.lift.sampling import REF_CONVENTIONS, ref_px_to_grid, sample_bilinear
from stages.lift.transformer import InterJointTransformer, PoseContextFusion, drop_path_rates

CONTEXT_MODES = ("none", "concat", "fusion", "deformable")
SAMPLING_PADDINGS = ("border", "zeros")


def fp32(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` in float32 with autocast off (parameters are fp32: autocast never casts them)."""
    with torch.autocast(x.device.type, enabled=False):
        return module(x.float())


class ContextAwarePoseFormer(nn.Module):
    """Context-Aware PoseFormer lifter. Defaults are the paper's (HRNet-W32 levels, 256x192 crop).

    Args:
        level_channels: C_l of each feature level used (a level subset = fewer entries).
        level_strides: stride of each level in detector-input pixels.
        input_size_wh: detector input size (W, H) in pixels; used by ``ref_convention="authors"``.
        context: ``"none" | "concat" | "fusion" | "deformable"`` (paper Table 3, steps 0..3).
        num_joints: J.
        embed_dim: C, the width of one pose or context token; joint tokens have (1+L)*C.
        num_levels_sampling_points: sampling points per deformable head, per level.
        deformable_heads: heads of the deformable layers (value width C / heads).
        depth: layers of each of the three modules.
        spatial_heads: heads of the inter-joint transformer.
        fusion_heads: heads of the pose-context fusion transformer.
        mlp_ratio: hidden / width of every MLP.
        drop_path_rate: stochastic depth of the last layer of each module (linear from 0).
        ref_convention: ``"mmpose"`` or ``"authors"`` (see the module docstring).
        sampling_padding: ``grid_sample`` padding of the initial context tokens (the maps sampled
            at the joints): ``"border"`` repeats the edge cell for a joint outside the crop;
            the authors' code uses ``"zeros"``. The deformable layers always use border.
        deformable_norm_eps: LayerNorm eps inside the deformable layers (the authors' 1e-5;
            ``norm_eps`` elsewhere).
        head_dim: outputs per joint of the head: 3 (a 3D joint); ``None``: the head is the
            LayerNorm alone and the lifter returns its normalised ``(B, J, E)`` joint tokens (CA-PF-S's
            per-frame stage, :mod:`stages.lift.temporal`, PoseFormer's ``Spatial_norm``).
        qkv_bias, drop_rate, attn_drop_rate, norm_eps: transformer details (ViT defaults).
    """

    def __init__(self, *, level_channels: Sequence[int] = (32, 64, 128, 256),
                 level_strides: Sequence[int] = (4, 8, 16, 32),
                 input_size_wh: tuple[int, int] = (192, 256), context: str = "deformable",
                 num_joints: int = 17, embed_dim: int = 128, num_levels_sampling_points: int = 4,
                 deformable_heads: int = 4, depth: int = 4, spatial_heads: int = 8,
                 fusion_heads: int = 8, mlp_ratio: float = 2.0, drop_path_rate: float = 0.2,
                 ref_convention: str = "mmpose", sampling_padding: str = "border",
                 deformable_norm_eps: float = 1e-6, head_dim: int | None = 3, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0, norm_eps: float = 1e-6) -> None:
        super().__init__()
        if context not in CONTEXT_MODES:
            raise ValueError(f"context must be one of {CONTEXT_MODES}, got {context!r}")
        if ref_convention not in REF_CONVENTIONS:
            raise ValueError(f"ref_convention must be one of {REF_CONVENTIONS}, got {ref_convention!r}")
        if sampling_padding not in SAMPLING_PADDINGS:
            raise ValueError(f"sampling_padding must be one of {SAMPLING_PADDINGS}, got {sampling_padding!r}")
        if len(level_channels) != len(level_strides):
            raise ValueError(f"{len(level_channels)} level channels but {len(level_strides)} strides")
        self.context = context
        self.level_channels = tuple(int(c) for c in level_channels)
        self.level_strides = tuple(int(s) for s in level_strides)
        self.input_size_wh = (int(input_size_wh[0]), int(input_size_wh[1]))
        self.ref_convention = ref_convention
        self.sampling_padding = sampling_padding
        self.num_joints = num_joints
        num_levels = len(self.level_channels)
        self.joint_dim = (1 + num_levels) * embed_dim  # E: one joint token of the inter-joint stage
        dpr = drop_path_rates(drop_path_rate, depth)
        blocks = dict(depth=depth, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop_rate,
                      attn_drop=attn_drop_rate, drop_path=dpr, norm_eps=norm_eps)

        if context == "none":
            # PoseFormer single frame: the joint token is the 2D joint embedded straight to E.
            self.coord_embed = nn.Linear(2, self.joint_dim)
            self.feat_embed = None
            self.pos_embed = nn.Parameter(torch.zeros(1, num_joints, self.joint_dim))
        else:
            self.coord_embed = nn.Linear(2, embed_dim)
            self.feat_embed = nn.ModuleList(nn.Linear(c, embed_dim) for c in self.level_channels)
            # unified positional embedding: one vector per (modality, joint), (1+L, J, C)
            self.pos_embed = nn.Parameter(torch.zeros(1 + num_levels, num_joints, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        self.deformable = (
            DeformableContextExtraction(
                self.level_channels, embed_dim, depth=depth, heads=deformable_heads,
                points=num_levels_sampling_points, mlp_ratio=mlp_ratio, drop_path=dpr,
                norm_eps=deformable_norm_eps)
            if context == "deformable" else None)
        self.fusion = (PoseContextFusion(embed_dim, heads=fusion_heads, **blocks)
                       if context in ("fusion", "deformable") else None)
        self.inter_joint = InterJointTransformer(self.joint_dim, heads=spatial_heads, **blocks)
        self.head = (nn.Sequential(nn.LayerNorm(self.joint_dim), nn.Linear(self.joint_dim, head_dim))
                     if head_dim is not None else nn.Sequential(nn.LayerNorm(self.joint_dim, eps=norm_eps)))

    # -- inputs -------------------------------------------------------------------------------
    def _check_feats(self, feats: Sequence[Tensor], ref_px: Tensor | None) -> None:
        if len(feats) != len(self.level_channels):
            raise ValueError(f"model expects {len(self.level_channels)} feature levels "
                             f"(channels {self.level_channels}), got {len(feats)}")
        for i, (f, c) in enumerate(zip(feats, self.level_channels)):
            if f.ndim != 4 or f.shape[1] != c:
                raise ValueError(f"level {i}: expected (B, {c}, H, W), got {tuple(f.shape)}")
        if ref_px is None:
            raise ValueError(f"context={self.context!r} needs ref_px (B, J, 2)")

    def reference_grid(self, ref_px: Tensor, level_hw: Sequence[tuple[int, int]]) -> Tensor:
        """``(B, J, 2)`` detector-input pixels -> ``(B, L, J, 2)`` per-level grid_sample coords."""
        return ref_px_to_grid(ref_px, level_hw=level_hw, level_strides=self.level_strides,
                              input_size_wh=self.input_size_wh, convention=self.ref_convention)

    def _tokens(self, pose2d: Tensor, joint_feats: Sequence[Tensor]) -> Tensor:
        """Embedded tokens ``(B, T, J, C_tok)``: T = 1+L, C_tok = C (T = 1, C_tok = E for none)."""
        pose = fp32(self.coord_embed, pose2d).unsqueeze(1)
        if self.feat_embed is None:
            return self.pos_drop(pose + self.pos_embed)
        ctx = [embed(f.to(pose.dtype)).unsqueeze(1) for embed, f in zip(self.feat_embed, joint_feats)]
        return self.pos_drop(torch.cat([pose, *ctx], dim=1) + self.pos_embed)

    # -- stages -------------------------------------------------------------------------------
    def forward_features(self, pose2d: Tensor, feats: Sequence[Tensor] = (),
                         ref_px: Tensor | None = None) -> Tensor:
        """Steps 1-4: ``(B, J, 2)``, L maps, ``(B, J, 2)`` -> joint tokens ``(B, J, E)``."""
        if self.context == "none":
            return self._lift_tokens(self._tokens(pose2d, ()))
        self._check_feats(feats, ref_px)
        # One float copy of each map serves every layer; the cache stores fp16 and grid_sample
        # needs map and grid in one dtype (fp16 coordinates would cost ~0.02 px of precision).
        dtype = self.coord_embed.weight.dtype
        maps = [f.to(dtype) for f in feats]
        grid = self.reference_grid(ref_px.to(dtype), [tuple(m.shape[-2:]) for m in maps])
        joint_feats = [sample_bilinear(m, grid[:, i].unsqueeze(2), padding_mode=self.sampling_padding)[:, :, 0]
                       for i, m in enumerate(maps)]                            # L x (B, J, C_l)
        tokens = self._tokens(pose2d, joint_feats)
        if self.deformable is not None:
            tokens = self.deformable(tokens, grid, maps)
        return self._lift_tokens(tokens)

    def forward_from_joint_feats(self, pose2d: Tensor, joint_feats: Sequence[Tensor]) -> Tensor:
        """Steps 0-2 from features already sampled at the joints (the cache's ``joint_feat/<l>``).

        The fast ablation path and the temporal model's per-frame encoder: no maps are read.
        Args: ``(B, J, 2)`` joints, L tensors ``(B, J, C_l)`` (ignored for context="none").
        Returns ``(B, J, head_dim)``. Not available for ``context="deformable"``.
        """
        if self.context == "deformable":
            raise ValueError("context='deformable' samples around the joints: it needs the maps")
        if self.context != "none" and len(joint_feats) != len(self.level_channels):
            raise ValueError(f"expected {len(self.level_channels)} joint feature levels, "
                             f"got {len(joint_feats)}")
        return self.forward_head(self._lift_tokens(self._tokens(pose2d, joint_feats)))

    def _lift_tokens(self, tokens: Tensor) -> Tensor:
        """``(B, T, J, C_tok)`` -> fusion (if any) -> flatten -> inter-joint -> ``(B, J, E)``."""
        if self.fusion is not None:
            tokens = self.fusion(tokens)
        b, t, j, c = tokens.shape
        x = tokens.permute(0, 2, 1, 3).reshape(b, j, t * c)  # pose token first, then the levels
        return self.inter_joint(x)

    def forward_head(self, x: Tensor) -> Tensor:
        """``(B, J, E)`` -> ``(B, J, head_dim)`` (``(B, J, 3)``), float32 under autocast too."""
        return fp32(self.head, x)

    def forward(self, pose2d: Tensor, feats: Sequence[Tensor] = (),
                ref_px: Tensor | None = None) -> Tensor:
        """Lift one frame per sample.

        Args:
            pose2d: ``(B, J, 2)`` joints normalised as ``X / w * 2 - [1, h / w]``.
            feats: L maps ``(B, C_l, H_l, W_l)``, any float dtype; ignored for context="none".
            ref_px: ``(B, J, 2)`` the same joints in detector-input pixels (x, y); ignored for
                context="none".
        Returns:
            ``(B, J, 3)`` root-relative 3D joints (metres if trained on metres).
        """
        return self.forward_head(self.forward_features(pose2d, feats, ref_px))

    # -- optimisation -------------------------------------------------------------------------
    def param_groups(self, base_lr: float, offset_lr_mult: float) -> list[dict[str, Any]]:
        """Optimizer groups: sampling-offset projections at ``offset_lr_mult * base_lr``.

        Slower offsets keep the sampling points from jumping away before the context is useful
        (Deformable DETR's recipe, the paper's 0.1x). Empty groups are left out.
        """
        offsets, rest = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (offsets if ".sampling_offsets." in f".{name}" else rest).append(p)
        groups = [{"name": "base", "params": rest, "lr": base_lr}]
        if offsets:
            groups.append({"name": "sampling_offsets", "params": offsets,
                           "lr": base_lr * offset_lr_mult})
        return groups


def lifter_classes() -> dict[str, type[nn.Module]]:
    """Every lifter a config's ``model.type`` may name, by class name."""
    from stages.lift.temporal import TEMPORAL_LIFTERS  # they build on this module

    return {ContextAwarePoseFormer.__name__: ContextAwarePoseFormer, **TEMPORAL_LIFTERS}


def build_model(cfg: dict[str, Any]) -> nn.Module:
    """Build from a plain dict of keyword arguments whose mmengine-style ``type`` names the class:
    ``ContextAwarePoseFormer`` (the default) or a temporal lifter (:mod:`stages.lift.temporal`:
    ``ContextAwarePoseFormerS``, ``PoseFormer``). Lists become tuples."""
    classes = lifter_classes()
    kwargs = dict(cfg)
    kind = kwargs.pop("type", ContextAwarePoseFormer.__name__)
    if kind not in classes:
        raise ValueError(f"build_model builds one of {sorted(classes)}, got type={kind!r}")
    for key in ("level_channels", "level_strides", "input_size_wh"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    return classes[kind](**kwargs)


def mpjpe_loss(pred: Tensor, target: Tensor) -> Tensor:
    """Mean per-joint position error: Euclidean distance averaged over joints and batch.

    ``(B, J, 3)`` x 2 -> scalar, in the units of the inputs; computed in float32 with autocast off
    (a bf16 norm of metre-scale errors would round away millimetres).
    """
    with torch.autocast(pred.device.type, enabled=False):
        return torch.linalg.vector_norm(pred.float() - target.float(), dim=-1).mean()
