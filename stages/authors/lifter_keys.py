"""The authors' CA-PF lifter (``module.volume_net.*``) as CAPF's :class:`ContextAwarePoseFormer`.

Their checkpoints hold the lifter under ``module.volume_net.`` (``nn.DataParallel``'s ``module.``,
then ``CA_PF.volume_net``), beside their HRNet under ``module.backbone.``. Two codebases saved them:

* ``ContextPose`` (Human3.6M, W32 and W48): ``coord_embed``, ``feat_embed.<l>``,
  ``Spatial_pos_embed`` ``(1, 1+L, J, C)``, ``context_blocks.<i>`` (deformable layers, their value
  projections called ``embed_proj.<l>``), ``res_blocks.<i>`` (pose-context fusion),
  ``joint_blocks.<i>`` (inter-joint), ``head.{0,1}``; depth = the number of levels (4).
* ``ContextPose_mpi`` (MPI-INF-3DHP): the same without ``context_blocks`` (its model never runs
  deformable layers: CAPF's ``context='fusion'``), C = 64 in the released HRNet-32 file, joints in
  MPI-INF-3DHP's own order (root = joint 14).

Every module is the same computation as CAPF's, layer for layer (pre-norm blocks with LayerNorm eps
1e-6, qkv bias, GELU MLPs of ratio 2, 8 heads in both transformers, no output projection in the
deformable layers, value projections C_l -> C / heads shared by the heads, the head's LayerNorm at
torch's default eps), so the map is renames plus one reshape,
``Spatial_pos_embed (1, T, J, C) -> pos_embed (T, J, C)``. What the weights cannot
say is set to the authors' values by :class:`LifterSettings` (their reference-point convention, zero
padding of the initial samples, LayerNorm eps 1e-5 in the deformable layers, 8 heads).

Joint order: CAPF's lifter always works in Human3.6M-17 order. The only per-joint tensor is the
positional embedding, and everything else treats joints alike (attention has no notion of joint
position), so a 3DHP lifter becomes an H36M-order one by permuting its embedding's joint axis:
fed the same joints in H36M-17 order, it returns the authors' output in H36M-17 order.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from stages.lift.joints import MPI3DHP_TO_H36M, NUM_JOINTS
from stages.lift.model import ContextAwarePoseFormer

LIFTER_PREFIX = "module.volume_net."
JOINT_ORDERS = ("h36m17", "mpi3dhp17")  # the order the authors' model works in
AUTHORS_TRANSFORMER_HEADS = 8           # num_heads of their fusion and inter-joint blocks (not in the weights)
AUTHORS_HRNET_STRIDES = (4, 8, 16, 32)  # their HRNet's four levels
AUTHORS_INPUT_SIZE_WH = (192, 256)      # their crop; CA_PF.forward's x / 96 - 1, y / 128 - 1
# What their code computes that the weights do not record, as ContextAwarePoseFormer arguments.
AUTHORS_MODEL_OPTIONS: dict[str, Any] = dict(
    ref_convention="authors",           # g = x / (W_in / 2) - 1 on every level
    sampling_padding="zeros",           # F.grid_sample's default padding for the initial samples
    deformable_norm_eps=1e-5,           # their DeformableBlock's nn.LayerNorm default
    norm_eps=1e-6,                      # partial(nn.LayerNorm, eps=1e-6) everywhere else
    qkv_bias=True,
    drop_path_rate=0.2,                 # training only; theirs, for fine-tuning from the import
)

# authors' name (prefix removed) <-> CAPF name; the first rule that matches applies.
_TO_CAPF = (
    (r"Spatial_pos_embed", r"pos_embed"),
    (r"context_blocks\.(\d+)\.embed_proj\.(\d+)\.(weight|bias)", r"deformable.layers.\1.value_proj.\2.\3"),
    (r"context_blocks\.(\d+)\.((?:norm[12]|attention_weights|sampling_offsets|mlp\.fc[12])\.(?:weight|bias))",
     r"deformable.layers.\1.\2"),
    (r"res_blocks\.(\d+)\.((?:norm[12]|attn\.qkv|attn\.proj|mlp\.fc[12])\.(?:weight|bias))", r"fusion.blocks.\1.\2"),
    (r"joint_blocks\.(\d+)\.((?:norm[12]|attn\.qkv|attn\.proj|mlp\.fc[12])\.(?:weight|bias))",
     r"inter_joint.blocks.\1.\2"),
    (r"((?:coord_embed|feat_embed\.\d+|head\.[01])\.(?:weight|bias))", r"\1"),
)
_TO_AUTHORS = (
    (r"pos_embed", r"Spatial_pos_embed"),
    (r"deformable\.layers\.(\d+)\.value_proj\.(.*)", r"context_blocks.\1.embed_proj.\2"),
    (r"deformable\.layers\.(\d+)\.(.*)", r"context_blocks.\1.\2"),
    (r"fusion\.blocks\.(\d+)\.(.*)", r"res_blocks.\1.\2"),
    (r"inter_joint\.blocks\.(\d+)\.(.*)", r"joint_blocks.\1.\2"),
    (r"(.*)", r"\1"),
)


class LifterKeyError(ValueError):
    """An authors' lifter state dict that does not fit CAPF's model: the one line names the keys."""


@dataclass(frozen=True)
class LifterSettings:
    """The model an authors' lifter implies: read from its tensors' names and shapes, the rest theirs.

    ``joint_order`` is the order the *authors'* model works in; the converted CAPF model always
    takes and returns Human3.6M-17 order.
    """

    level_channels: tuple[int, ...]     # C_l of each level: (32, 64, 128, 256) HRNet-W32, (48, ...) W48
    embed_dim: int                      # C: 128 (Human3.6M), 64 (the released 3DHP HRNet-32 model)
    context: str                        # "deformable" (ContextPose) | "fusion" (ContextPose_mpi)
    depth: int                          # layers of each module
    joint_order: str                    # "h36m17" | "mpi3dhp17"
    deformable_heads: int = 4
    num_levels_sampling_points: int = 4
    mlp_ratio: float = 2.0
    num_joints: int = NUM_JOINTS
    level_strides: tuple[int, ...] = AUTHORS_HRNET_STRIDES
    input_size_wh: tuple[int, int] = AUTHORS_INPUT_SIZE_WH

    def model_kwargs(self) -> dict[str, Any]:
        """``ContextAwarePoseFormer`` keyword arguments (every parity option at the authors' value)."""
        return dict(level_channels=self.level_channels, level_strides=self.level_strides,
                    input_size_wh=self.input_size_wh, context=self.context, num_joints=self.num_joints,
                    embed_dim=self.embed_dim, num_levels_sampling_points=self.num_levels_sampling_points,
                    deformable_heads=self.deformable_heads, depth=self.depth,
                    spatial_heads=AUTHORS_TRANSFORMER_HEADS, fusion_heads=AUTHORS_TRANSFORMER_HEADS,
                    mlp_ratio=self.mlp_ratio, **AUTHORS_MODEL_OPTIONS)

    def build_model(self) -> ContextAwarePoseFormer:
        return ContextAwarePoseFormer(**self.model_kwargs())


@dataclass(frozen=True)
class ConvertedLifter:
    """An authors' lifter in CAPF's terms."""

    state_dict: dict[str, Tensor]       # CAPF names; loads strictly into settings.build_model()
    settings: LifterSettings
    key_map: dict[str, str]             # authors' name (with prefix) -> CAPF name, every lifter tensor
    unused: tuple[str, ...] = field(default=())  # keys outside the lifter (their HRNet: module.backbone.*)

    def build_model(self) -> ContextAwarePoseFormer:
        """The converted model, weights loaded (strict), in eval mode."""
        model = self.settings.build_model()
        model.load_state_dict(self.state_dict)
        return model.eval()

    def lift_checkpoint(self, **meta: Any) -> dict[str, Any]:
        """What CAPF's lift checkpoints hold (``torch.save`` it; ``capf eval``/``infer`` read it):
        ``state_dict`` and a ``meta`` with the levels and model arguments a trained run records (so
        ``capf infer`` refuses a detector whose levels differ), plus ``meta``'s keys."""
        model = {key: list(value) if isinstance(value, tuple) else value
                 for key, value in self.settings.model_kwargs().items()}
        levels = [str(level) for level in range(len(self.settings.level_channels))]
        return {"state_dict": self.state_dict, "meta": {"levels": levels, "model": model, **meta}}


def capf_name(name: str) -> str | None:
    """CAPF's name of an authors' lifter tensor (``name`` without the prefix); None when none fits."""
    for pattern, replacement in _TO_CAPF:
        if re.fullmatch(pattern, name):
            return re.sub(f"^{pattern}$", replacement, name)
    return None


def authors_name(name: str) -> str:
    """The authors' name (without the prefix) of a CAPF lifter tensor: the inverse of :func:`capf_name`."""
    for pattern, replacement in _TO_AUTHORS:
        if re.fullmatch(pattern, name):
            return re.sub(f"^{pattern}$", replacement, name)
    raise AssertionError("the last rule matches every name")


def _listing(names: list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _block_count(lifter: Mapping[str, Tensor], module: str) -> int:
    """1 + the highest block index of ``module`` (``joint_blocks`` ...), 0 when it has none."""
    indices = [int(m.group(1)) for name in lifter if (m := re.match(rf"{module}\.(\d+)\.", name))]
    return 1 + max(indices) if indices else 0


def infer_settings(lifter: Mapping[str, Tensor], *, joint_order: str | None = None) -> LifterSettings:
    """The model a lifter state dict (names without the prefix) implies, from its names and shapes.

    ``joint_order=None`` reads it from the codebase the keys come from: ContextPose (with
    ``context_blocks``) trained on Human3.6M, ContextPose_mpi (without) on MPI-INF-3DHP.
    """
    needed = ["coord_embed.weight", "Spatial_pos_embed", "feat_embed.0.weight", "res_blocks.0.mlp.fc1.weight",
              "joint_blocks.0.mlp.fc1.weight"]
    absent = [LIFTER_PREFIX + name for name in needed if name not in lifter]
    if absent:
        raise LifterKeyError(f"not the authors' CA-PF lifter: missing keys {_listing(absent)}")
    embed_dim = int(lifter["coord_embed.weight"].shape[0])
    pos_embed = lifter["Spatial_pos_embed"]
    if pos_embed.ndim != 4 or pos_embed.shape[1] < 2:
        raise LifterKeyError(f"{LIFTER_PREFIX}Spatial_pos_embed has shape {tuple(pos_embed.shape)}; "
                             "the authors' is (1, 1 + levels, joints, C)")
    if pos_embed.shape[2] != NUM_JOINTS:
        raise LifterKeyError(f"{LIFTER_PREFIX}Spatial_pos_embed has {pos_embed.shape[2]} joints; CAPF's lifter "
                             f"and its joint tables take {NUM_JOINTS}")
    num_levels = int(pos_embed.shape[1]) - 1  # one pose token, then one token per level
    level_channels = tuple(int(lifter[f"feat_embed.{l}.weight"].shape[1]) if f"feat_embed.{l}.weight" in lifter else -1
                           for l in range(num_levels))
    if -1 in level_channels:
        raise LifterKeyError(f"missing key {LIFTER_PREFIX}feat_embed.{level_channels.index(-1)}.weight "
                             f"(Spatial_pos_embed has tokens for {num_levels} levels)")
    depths = {module: _block_count(lifter, module) for module in ("context_blocks", "res_blocks", "joint_blocks")}
    context = "deformable" if depths["context_blocks"] else "fusion"
    used = {m: d for m, d in depths.items() if d}
    if len(set(used.values())) != 1:
        raise LifterKeyError("the lifter's modules have different depths "
                             f"({', '.join(f'{m}: {d}' for m, d in used.items())}); CAPF's model has one depth")
    order = joint_order or ("h36m17" if context == "deformable" else "mpi3dhp17")
    if order not in JOINT_ORDERS:
        raise ValueError(f"joint_order must be one of {JOINT_ORDERS}, got {order!r}")
    heads = points = 4  # the authors' DeformableBlock(num_heads=4, num_samples=4); unused without one
    if context == "deformable":
        value_proj, weights = (lifter.get(f"context_blocks.0.{n}.weight") for n in ("embed_proj.0", "attention_weights"))
        if value_proj is None or weights is None or embed_dim % value_proj.shape[0]:
            raise LifterKeyError(f"{LIFTER_PREFIX}context_blocks.0.embed_proj.0.weight or .attention_weights.weight "
                                 f"is missing, or the value width does not divide C = {embed_dim} into heads")
        heads = embed_dim // int(value_proj.shape[0])               # each head reads C / heads channels
        points = max(int(weights.shape[0]) // heads, 1)             # one attention logit per head and point
    mlp_ratio = int(lifter["res_blocks.0.mlp.fc1.weight"].shape[0]) / embed_dim
    return LifterSettings(level_channels=level_channels, embed_dim=embed_dim, context=context,
                          depth=used["joint_blocks"], joint_order=order, deformable_heads=heads,
                          num_levels_sampling_points=points, mlp_ratio=mlp_ratio)


def _to_h36m_order(pos_embed: Tensor, joint_order: str) -> Tensor:
    """``(T, J, C)`` positional embedding of a model working in ``joint_order`` -> H36M-17 order."""
    if joint_order == "mpi3dhp17":
        return pos_embed[:, list(MPI3DHP_TO_H36M)]  # H36M slot i holds 3DHP joint MPI3DHP_TO_H36M[i]
    return pos_embed


def convert_lifter(authors_state: Mapping[str, Tensor], *, joint_order: str | None = None) -> ConvertedLifter:
    """Map the authors' lifter onto CAPF's model.

    Args:
        authors_state: the authors' state dict as they save it (``module.volume_net.*`` names,
            tensors); keys outside the lifter (``module.backbone.*``) are returned as ``unused``.
        joint_order: the order the authors' model works in; None reads it from the keys
            (:func:`infer_settings`).
    Returns:
        The CAPF state dict (loads strictly into ``settings.build_model()``), the settings, the key
        map applied and the unused keys.
    Raises:
        LifterKeyError: no lifter in the dict, a lifter key CAPF has no place for, a tensor the model
            needs that is absent, or a shape that does not fit (one line, naming the keys).
    """
    lifter = {name[len(LIFTER_PREFIX):]: value for name, value in authors_state.items()
              if name.startswith(LIFTER_PREFIX)}
    unused = tuple(name for name in authors_state if not name.startswith(LIFTER_PREFIX))
    if not lifter:
        raise LifterKeyError(f"no {LIFTER_PREFIX}* keys: not an authors' CA-PF checkpoint "
                             f"(first keys: {_listing(list(authors_state), 3) or 'none'})")
    settings = infer_settings(lifter, joint_order=joint_order)
    unexpected = [LIFTER_PREFIX + name for name in lifter if capf_name(name) is None]
    if unexpected:
        raise LifterKeyError(f"unexpected keys for CAPF's lifter: {_listing(unexpected)}")
    expected = {name: tuple(t.shape) for name, t in settings.build_model().state_dict().items()}
    key_map = {LIFTER_PREFIX + name: capf_name(name) for name in lifter}
    beyond = [a for a, c in key_map.items() if c not in expected]
    if beyond:
        raise LifterKeyError(f"unexpected keys for a {settings.context} lifter of depth {settings.depth} "
                             f"with {len(settings.level_channels)} levels: {_listing(beyond)}")
    missing = sorted(set(expected) - set(key_map.values()))
    if missing:
        raise LifterKeyError(f"missing keys: {_listing([LIFTER_PREFIX + authors_name(c) for c in missing])}")
    state, wrong = {}, []
    for source, target in key_map.items():
        value = authors_state[source]
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise LifterKeyError(f"{source} is not a float tensor ({type(value).__name__})")
        value = value.detach().to(torch.float32)
        if target == "pos_embed" and value.ndim == 4 and value.shape[0] == 1:
            value = _to_h36m_order(value[0], settings.joint_order)
        if tuple(value.shape) != expected[target]:
            wrong.append(f"{source} {tuple(authors_state[source].shape)} (the model built from the other "
                         f"tensors needs {expected[target]})")
        state[target] = value.contiguous().clone()
    if wrong:
        raise LifterKeyError(f"shape mismatch: {_listing(wrong, 3)}")
    return ConvertedLifter(state, settings, key_map, unused)
