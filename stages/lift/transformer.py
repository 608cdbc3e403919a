"""Transformer pieces of Context-Aware PoseFormer: the pre-norm block, stochastic depth, and the
two token mixers built from it (Pose-Context Feature Fusion, Spatial Inter-joint Modeling).

The block is the ViT / PoseFormer block: ``x + DropPath(Attn(LN(x)))`` then
``x + DropPath(MLP(LN(x)))``; LayerNorm eps 1e-6, qkv bias on, GELU MLP of ratio 2.
Attention runs through ``F.scaled_dot_product_attention`` (one fused kernel on GPU; torch's FLOP
counter knows its cost, see ``stages/lift/cost.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def drop_path_rates(max_rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate of each of ``depth`` layers, rising linearly from 0 to ``max_rate``."""
    return [float(r) for r in torch.linspace(0, max_rate, depth)]


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch for whole samples (dim 0) during training.

    Survivors are scaled by 1 / keep so the expected output is unchanged; identity at eval.
    """

    def __init__(self, rate: float = 0.0) -> None:
        super().__init__()
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate:.3f}"


class Mlp(nn.Module):
    """Two-layer GELU MLP applied per token: ``(..., dim) -> (..., dim)``."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention over the token axis: ``(N, T, dim) -> (N, T, dim)``."""

    def __init__(self, dim: int, heads: int, *, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(n, t, c)))


class TransformerBlock(nn.Module):
    """Pre-norm transformer block (ViT / PoseFormer): ``(N, T, dim) -> (N, T, dim)``."""

    def __init__(self, dim: int, heads: int, *, mlp_ratio: float = 2.0, qkv_bias: bool = True,
                 drop: float = 0.0, attn_drop: float = 0.0, drop_path: float = 0.0,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TransformerStack(nn.Module):
    """`depth` pre-norm blocks applied in turn, block i with stochastic-depth rate drop_path[i].
    ``(N, S, D) -> (N, S, D)``; both of the model's transformer modules are one of these."""

    def __init__(self, dim: int, *, depth: int = 4, heads: int = 8, mlp_ratio: float = 2.0,
                 qkv_bias: bool = True, drop: float = 0.0, attn_drop: float = 0.0,
                 drop_path: Sequence[float] = (0.0,) * 4, norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TransformerBlock(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop,
                             attn_drop=attn_drop, drop_path=drop_path[i], norm_eps=norm_eps)
            for i in range(depth))

    def forward(self, x: Tensor) -> Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x


class PoseContextFusion(TransformerStack):
    """Pose-Context Feature Fusion (paper Sec. 3.3): per joint, a transformer over its L+1 tokens.

    Each joint's pose token and its L context tokens (one per feature level) attend to each other;
    joints do not interact here (that is the next module's job).

    ``(B, T, J, C) -> (B, T, J, C)`` with T = 1 + L.
    """

    def forward(self, tokens: Tensor) -> Tensor:
        b, t, j, c = tokens.shape
        x = tokens.transpose(1, 2).reshape(b * j, t, c)  # one sequence of T tokens per joint
        return super().forward(x).view(b, j, t, c).transpose(1, 2)


class InterJointTransformer(TransformerStack):
    """Spatial Inter-joint Modeling (paper Sec. 3.4): PoseFormer's spatial transformer.

    Each joint is one token of (L+1)*C dims (its fused pose and context tokens, concatenated);
    the J joint tokens attend to each other. ``(B, J, E) -> (B, J, E)``.
    """
