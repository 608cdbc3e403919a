"""Horizontal flip of a whole batch: augmentation at training time, flip-test averaging at eval.

A flipped sample mirrors the image: the normalised 2D joints x -> -x, the crop joints (reference
points) x -> (W_in - 1) - x (pixel centres at integers, the authors' 191 - x for a 192-wide crop),
the root-relative 3D target x -> -x, and left and right joints swap labels. The feature maps come
from one of two places (``train.flip_features`` / ``eval.flip_features``):

* ``"extracted"``: the store's ``feat_flip/<l>``, the detector's own forward on the mirrored crop
  (`capf extract --flip`), in the mirrored crop's pixel frame, so the mirrored reference points
  index them directly. This is what the authors do: they flip the *image* and re-run the frozen
  backbone, for augmentation and for the flip test (DESIGN.md). The dataset reads these maps
  instead of the unflipped ones for a mirrored training batch, and both for the flip test.
* ``"mirrored"``: the unflipped maps mirrored along W (``flip_feature_maps``), the only choice for a
  store without flip maps. It is an approximation, not the authors' code: a detector's channels
  carry left/right meaning (a channel that fires on a left wrist still fires on it after
  ``torch.flip``), so the mirrored map is not the map of the mirrored crop (60-85 % relative L2
  apart on the demo's detector; issue 9).

``"auto"`` (the default) takes ``"extracted"`` whenever the store has complete flip maps.

Mirroring a map with ``torch.flip`` alone does not land each cell where the mirrored reference
point looks for it. Both of the model's conventions put level-l cell u at a position linear in the
pixel (``"mmpose"``: u = x / s_l; ``"authors"``: u = x (W_l - 1) / W_in), so the mirror of pixel x
(``W_in - 1 - x``) is cell ``c_l - u`` with ``c_l = cell(W_in - 1)``, whereas ``torch.flip`` maps u to
``W_l - 1 - u``. For the mmpose convention the gap is ``1 - 1/s_l`` cells: 0.75 cell at stride 4,
0.97 at stride 32, i.e. a one-cell misalignment on every flipped batch. ``flip_feature_maps``
therefore mirrors and then shifts each level by that constant sub-cell amount (linear
interpolation, border values repeated), so a flipped batch samples exactly the features of the
unflipped one; ``tests/stages/lift/test_train.py`` proves it through the model's own sampler.
``exact=False`` gives the plain ``torch.flip`` (no shift).

Temporal lifters read joint features, not maps: ``"extracted"`` gives them the store's
``joint_feat_flip`` (the mirrored crops' maps sampled at the mirrored joints,
:mod:`stages.lift.joint_feats`), the detector's view of the mirrored crop; ``"mirrored"`` swaps the
left and right joints' features (``flip_joint_features``), the same approximation as the map flip,
wrong wherever the look tells left from right. ``train.flip_aug=False`` turns the augmentation off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from cache.store import FeatureStore, StoreError
from stages.lift.joints import H36M_FLIP_PERM, flip_joints
from stages.settings import ConfigError

FLIP_FEATURES = ("auto", "extracted", "mirrored")


def resolve_flip_features(setting: str, store: FeatureStore, where: str = "train.flip_features") -> str:
    """``"extracted"`` or ``"mirrored"`` for a ``flip_features`` setting on ``store``; ``"extracted"``
    on a store without complete ``feat_flip`` maps is refused (StoreError: one line naming the store
    and the command that adds them), before any training or evaluation starts."""
    if setting not in FLIP_FEATURES:
        raise ConfigError(f"{where} must be one of {FLIP_FEATURES}, got {setting!r}")
    has_flips = store.has_flip_features()
    if setting == "auto":
        return "extracted" if has_flips else "mirrored"
    if setting == "extracted" and not has_flips:
        raise StoreError(f"{store.path}: {where}='extracted' but the store has no complete feat_flip maps; add them "
                         "with `capf extract --flip --config <extract config> --data-root <root>` "
                         "(make extract FLIP=1), or set it to 'mirrored'")
    return setting


def flips_batch(seed: int, epoch: int, batch: int, prob: float) -> bool:
    """Whether training batch ``batch`` of ``epoch`` is mirrored: a function of (seed, epoch, batch)
    only, so the loader can read the right maps before the loop sees the batch, and a resumed run
    mirrors the same batches."""
    return bool(np.random.default_rng([seed, 1, epoch, batch]).random() < prob)


@dataclass(frozen=True)
class FlipGeometry:
    """What the map flip needs to know: levels' strides, the crop size and the sampling convention."""

    level_strides: tuple[int, ...]
    input_size_wh: tuple[int, int]
    ref_convention: str = "mmpose"
    exact: bool = True

    @classmethod
    def of(cls, model, exact: bool = True) -> "FlipGeometry":
        return cls(tuple(model.level_strides), tuple(model.input_size_wh), model.ref_convention, exact)

    def cell_shift(self, level: int, width: int) -> float:
        """d such that the mirrored map at cell v equals ``torch.flip(map)`` at cell ``v + d``."""
        w_in = self.input_size_wh[0]
        if self.ref_convention == "mmpose":
            cells_per_px = 1.0 / self.level_strides[level]
        else:  # "authors": the whole input width spans the W_l - 1 cell spacings
            cells_per_px = (width - 1) / w_in
        return (width - 1) - cells_per_px * (w_in - 1)


def _shift_along_w(x: Tensor, shift: float) -> Tensor:
    """``out[..., v] = x[..., v + shift]`` by linear interpolation, border values repeated."""
    if abs(shift) < 1e-9:
        return x
    width = x.shape[-1]
    base = math.floor(shift)
    frac = shift - base
    cells = torch.arange(width, device=x.device) + base
    left = x.index_select(-1, cells.clamp(0, width - 1))
    right = x.index_select(-1, (cells + 1).clamp(0, width - 1))
    if not frac:
        return left
    if x.dtype in (torch.float32, torch.float64):
        return torch.lerp(left, right, frac)
    return torch.lerp(left.float(), right.float(), frac).to(x.dtype)  # half: interpolate in float32


def flip_feature_maps(feats: Sequence[Tensor], geometry: FlipGeometry) -> list[Tensor]:
    """Mirror L maps ``(B, C_l, H_l, W_l)`` so they line up with mirrored reference points."""
    out = []
    for level, f in enumerate(feats):
        flipped = f.flip(-1)
        if geometry.exact:
            flipped = _shift_along_w(flipped, geometry.cell_shift(level, f.shape[-1]))
        out.append(flipped)
    return out


def flip_joint_features(joint_feats: Sequence[Tensor]) -> list[Tensor]:
    """Relabel L joint-feature tensors ``(..., J, C_l)`` for a mirrored sample: swap left and right joints.

    Applied to ``joint_feat_flip`` (sampled at the mirrored joints in their unflipped order) this is
    exact: flipped joint j sits where the mirror of joint ``perm[j]`` was. Applied to ``joint_feat``
    it is the map flip's approximation: by construction of :func:`flip_feature_maps`, the mirrored
    maps at the mirrored joints are the unmirrored features at the partner joint, not what the
    detector sees on the mirrored crop."""
    perm = list(H36M_FLIP_PERM)
    return [f[..., perm, :] for f in joint_feats]


def flip_batch(batch: dict, geometry: FlipGeometry) -> dict:
    """A mirrored copy of a batch dict (``stages.lift.dataset`` or ``stages.lift.sequence_dataset``
    keys); the input is left untouched. A batch that carries ``feats_flip`` (the mirrored crops'
    maps, read from the store) gets those as its maps, one with ``joint_feats_flip`` those as its
    joint features; otherwise its maps or joint features are mirrored."""
    out = dict(batch)
    out["pose2d"] = flip_joints(batch["pose2d"])
    if "ref_px" in batch:
        out["ref_px"] = flip_joints(batch["ref_px"], width=geometry.input_size_wh[0])
    if "target" in batch:
        out["target"] = flip_joints(batch["target"])
    if "joint_feats_flip" in batch:  # the mirrored crops' features, joints in the unflipped order
        out["joint_feats"] = flip_joint_features(out.pop("joint_feats_flip"))
    elif "joint_feats" in batch:
        out["joint_feats"] = flip_joint_features(batch["joint_feats"])
    if "feats_flip" in batch:
        out["feats"] = out.pop("feats_flip")
    else:
        out["feats"] = flip_feature_maps(batch["feats"], geometry) if batch.get("feats") else []
    return out


def flip_back(pred: Tensor) -> Tensor:
    """A prediction made on a mirrored batch, mirrored back: ``(B, J, 3)`` root-relative."""
    return flip_joints(pred)
