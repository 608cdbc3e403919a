"""Deformable Context Extraction (paper Sec. 3.2, Eq. 2-3).

For every joint j and feature level l, a context token attends to a few points of level l's map
around the joint's reference point. Query = LN(context token + the joint's pose token); from it
one linear layer predicts the sampling offsets (squashed by tanh, added to the reference point in
``grid_sample``'s normalised [-1, 1] frame) and another the attention weights (softmax over the
points of each head). Each head reads its points through a per-level value projection
C_l -> C / heads that all heads share; the heads' outputs are concatenated back to C. There is no
output projection: the concatenation goes straight into the residual, then a GELU MLP.
The pose token (index 0 on the token axis) passes through unchanged.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from stages.lift.sampling import sample_bilinear
from stages.lift.transformer import DropPath, Mlp


def init_offset_bias(heads: int, points: int) -> Tensor:
    """Initial sampling-offset bias ``(heads * points * 2,)``, laid out (head, point, xy).

    Head h points at angle 2*pi*h/heads and point i sits at radius 0.01*(i+1), measured *after*
    the tanh (hence the atanh), so that at the start every head looks in its own direction at a
    few distances. With 4 heads this equals the authors' initialisation (they normalise the
    direction by its largest component, which for 0/90/180/270 degrees is the unit circle too).
    """
    theta = torch.arange(heads, dtype=torch.float64) * (2 * math.pi / heads)
    direction = torch.stack([theta.cos(), theta.sin()], -1)                   # (H, 2)
    radius = 0.01 * torch.arange(1, points + 1, dtype=torch.float64)          # (P,)
    offsets = direction[:, None, :] * radius[None, :, None]                   # (H, P, 2)
    return torch.atanh(offsets).float().reshape(-1)


class DeformableContextLayer(nn.Module):
    """One deformable layer: ``(B, 1+L, J, C)`` tokens -> same, context tokens updated."""

    def __init__(self, level_channels: Sequence[int], dim: int, *, heads: int = 4, points: int = 4,
                 mlp_ratio: float = 2.0, drop_path: float = 0.0, norm_eps: float = 1e-6) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} deformable heads")
        self.heads, self.points = heads, points
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attention_weights = nn.Linear(dim, heads * points)
        self.sampling_offsets = nn.Linear(dim, heads * points * 2)
        self.value_proj = nn.ModuleList(nn.Linear(c, dim // heads) for c in level_channels)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)
        self._sampling_hooks: OrderedDict[int, Callable] = OrderedDict()
        self.reset_sampling_parameters()

    def register_sampling_hook(self, hook: Callable[["DeformableContextLayer", Tensor, Tensor], None]) -> RemovableHandle:
        """Call ``hook(layer, locations, weights)`` on every forward: where the layer sampled,
        ``(B, L, J, H*P, 2)`` in grid_sample's frame, and with what attention, ``(B, L, J, H, P)``
        (softmax over P). For pictures of the learned sampling (paper Fig. 4, 9); like torch's
        module hooks, ``handle.remove()`` takes it off."""
        handle = RemovableHandle(self._sampling_hooks)
        self._sampling_hooks[handle.id] = hook
        return handle

    def reset_sampling_parameters(self) -> None:
        """Offsets spread in different directions; attention weights uniform (zero logits)."""
        with torch.no_grad():
            nn.init.zeros_(self.sampling_offsets.weight)
            self.sampling_offsets.bias.copy_(init_offset_bias(self.heads, self.points))
            nn.init.zeros_(self.attention_weights.weight)
            nn.init.zeros_(self.attention_weights.bias)

    def sampling_locations(self, query: Tensor, grid: Tensor) -> Tensor:
        """``(B, L, J, C)`` query, ``(B, L, J, 2)`` reference -> ``(B, L, J, H*P, 2)`` locations."""
        b, l, j, _ = query.shape
        offsets = self.sampling_offsets(query).view(b, l, j, self.heads * self.points, 2).tanh()
        # locations stay in the grid's (float32) precision even when the query is bf16/fp16 under
        # autocast: bf16 steps of 0.004 would be a tenth of a cell on a 48-wide map
        return grid.unsqueeze(3) + offsets.to(grid.dtype)

    def attend(self, query: Tensor, grid: Tensor, feats: Sequence[Tensor]) -> Tensor:
        """The attention output before the residual (Eq. 2): ``(B, L, J, C)``.

        Args:
            query: ``(B, L, J, C)`` normalised queries, one per level and joint.
            grid: ``(B, L, J, 2)`` reference points, ``grid_sample`` frame.
            feats: L maps ``(B, C_l, H_l, W_l)`` in the query's dtype.
        """
        b, l, j, c = query.shape
        h, p = self.heads, self.points
        loc = self.sampling_locations(query, grid)                             # (B, L, J, H*P, 2)
        values = torch.stack([proj(sample_bilinear(f, loc[:, i]))             # (B, J, H*P, C/H)
                              for i, (f, proj) in enumerate(zip(feats, self.value_proj))], dim=1)
        values = values.view(b, l, j, h, p, c // h)
        weights = self.attention_weights(query).view(b, l, j, h, 1, p).softmax(-1)
        for hook in self._sampling_hooks.values():
            hook(self, loc.detach(), weights.detach().view(b, l, j, h, p))
        return (weights @ values).view(b, l, j, c)                             # sum over points

    def forward(self, tokens: Tensor, grid: Tensor, feats: Sequence[Tensor]) -> Tensor:
        pose, ctx = tokens[:, :1], tokens[:, 1:]
        query = self.norm1(ctx + pose)  # the joint's pose token tells each level what to look for
        ctx = ctx + self.drop_path(self.attend(query, grid, feats))
        ctx = ctx + self.drop_path(self.mlp(self.norm2(ctx)))
        return torch.cat([pose, ctx], dim=1)


class DeformableContextExtraction(nn.Module):
    """A stack of :class:`DeformableContextLayer` (4 in the paper).

    Forward: tokens ``(B, 1+L, J, C)`` (pose token first, then one context token per level),
    reference grid ``(B, L, J, 2)`` from :func:`stages.lift.sampling.ref_px_to_grid`, and the
    L maps ``(B, C_l, H_l, W_l)`` -> tokens ``(B, 1+L, J, C)``.
    """

    def __init__(self, level_channels: Sequence[int], dim: int, *, depth: int = 4, heads: int = 4,
                 points: int = 4, mlp_ratio: float = 2.0, drop_path: Sequence[float] = (0.0,) * 4,
                 norm_eps: float = 1e-6) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DeformableContextLayer(level_channels, dim, heads=heads, points=points,
                                   mlp_ratio=mlp_ratio, drop_path=drop_path[i], norm_eps=norm_eps)
            for i in range(depth))

    def forward(self, tokens: Tensor, grid: Tensor, feats: Sequence[Tensor]) -> Tensor:
        for layer in self.layers:
            tokens = layer(tokens, grid, feats)
        return tokens
