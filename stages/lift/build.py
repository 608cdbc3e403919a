"""From a lift config to a model: which feature levels feed the lifter, and whether a store has them.

A lift config's ``model`` section names the cache levels it uses (``levels=[0, 1, 2, 3]``); the
levels' channels and strides and the detector input size come from the store (training,
evaluation) or from the config's ``detector_levels`` section (``capf flops``, which needs no
store). Every mismatch between the two is a ``StoreMismatchError`` raised before any training
starts, naming what the config asks for and what the store holds.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cache.store import FeatureStore, LevelSpec, StoreError
from stages.lift.model import ContextAwarePoseFormer, build_model

LIFT_ONLY_KEYS = ("levels",)  # model-section keys that are not ContextAwarePoseFormer arguments


class StoreMismatchError(StoreError):
    """The store lacks a level, shape or array the lift config needs."""


@dataclass(frozen=True)
class LevelGeometry:
    """What the lifter needs to know about its inputs: the chosen levels and the crop size."""

    levels: tuple[LevelSpec, ...]
    input_size_wh: tuple[int, int]

    @property
    def names(self) -> list[str]:
        return [level.name for level in self.levels]

    def level_shapes(self) -> list[tuple[int, int, int]]:
        """(C_l, H_l, W_l) per level, for FLOP counting."""
        return [(lv.channels, lv.height, lv.width) for lv in self.levels]


def requested_levels(model_cfg: dict) -> list[str]:
    """The config's ``model.levels`` as store level names (``0`` -> ``"0"``)."""
    levels = model_cfg.get("levels")  # completed from configs/lift/capf_base.py by lift_settings
    if not isinstance(levels, (list, tuple)) or not levels:
        raise ValueError(f"model.levels must be a non-empty list of level indices, got {levels!r}")
    return [str(level) for level in levels]


def geometry_from_config(cfg: dict) -> LevelGeometry:
    """Level geometry from the config alone (``detector_levels``: strides, channels, input size)."""
    det = cfg.get("detector_levels")
    if not det:
        raise ValueError("the config has no `detector_levels` section (strides, channels, input_size_wh)")
    strides, channels = list(det["strides"]), list(det["channels"])
    width, height = (int(v) for v in det["input_size_wh"])
    if len(strides) != len(channels):
        raise ValueError(f"detector_levels: {len(strides)} strides but {len(channels)} channels")
    all_levels = {str(i): LevelSpec(str(i), int(s), int(c), height // int(s), width // int(s))
                  for i, (s, c) in enumerate(zip(strides, channels))}
    names = requested_levels(cfg["model"])
    missing = [n for n in names if n not in all_levels]
    if missing:
        raise ValueError(f"model.levels asks for {missing}, detector_levels defines {list(all_levels)}")
    return LevelGeometry(tuple(all_levels[n] for n in names), (width, height))


def geometry_from_detector(cfg: dict) -> LevelGeometry:
    """Level geometry by building the config's detector (random weights) and probing its levels."""
    from stages.detector.topdown import TopdownDetector

    if "detector" not in cfg:
        raise ValueError("the config has neither detector_levels nor a detector section")
    detector = TopdownDetector(cfg["detector"]["config"], None, random_init=True, device="cpu")
    by_name = {lv.name: lv for lv in detector.levels}
    return LevelGeometry(tuple(by_name[n] for n in requested_levels(cfg["model"])), detector.input_size_wh)


def _describe(levels: Sequence[LevelSpec]) -> str:
    return ", ".join(f"{lv.name}: stride {lv.stride}, {lv.channels} ch, {lv.height}x{lv.width}" for lv in levels)


def geometry_from_store(cfg: dict, store: FeatureStore, *, need_targets: bool = True) -> LevelGeometry:
    """The config's levels as the store holds them; raises StoreMismatchError on any disagreement.

    Checks: every requested level exists; where the config states shapes (``detector_levels``,
    explicit ``model.level_channels``/``level_strides``/``input_size_wh``) they equal the store's;
    the store has 17 joints, a known joint format and (for training) ``gt3d``.
    """
    model_cfg = cfg["model"]
    names = requested_levels(model_cfg)
    by_name = {lv.name: lv for lv in store.levels}
    where = f"store {store.path}"
    missing = [n for n in names if n not in by_name]
    if missing:
        raise StoreMismatchError(f"the config asks for feature levels {missing} but {where} has only "
                                 f"[{_describe(store.levels)}]; change model.levels or extract with a "
                                 "detector that has them")
    chosen = tuple(by_name[n] for n in names)
    input_size = store.spec.input_size_wh
    if cfg.get("detector_levels"):
        stated = geometry_from_config(cfg)
        if stated.input_size_wh != input_size:
            raise StoreMismatchError(f"detector_levels says input size {stated.input_size_wh} (w, h) but {where} "
                                     f"was extracted at {input_size}; fix detector_levels or use the right store")
        for want, have in zip(stated.levels, chosen):
            if (want.stride, want.channels, want.height, want.width) != (have.stride, have.channels,
                                                                          have.height, have.width):
                raise StoreMismatchError(f"level {want.name}: the config expects [{_describe([want])}] but "
                                         f"{where} holds [{_describe([have])}]; fix detector_levels or use "
                                         "the store of the detector the config names")
    for key, have in (("level_channels", [lv.channels for lv in chosen]),
                      ("level_strides", [lv.stride for lv in chosen]),
                      ("input_size_wh", list(input_size))):
        if key in model_cfg and list(model_cfg[key]) != have:
            raise StoreMismatchError(f"model.{key}={list(model_cfg[key])} but {where} has {have} for levels {names}")
    if store.spec.num_joints != 17:
        raise StoreMismatchError(f"{where} has {store.spec.num_joints} joints; the lifter needs 17")
    if store.spec.joint_format not in ("coco17", "h36m17"):
        raise StoreMismatchError(f"{where}: unknown joint format {store.spec.joint_format!r}")
    if need_targets and not store.has("gt3d"):
        raise StoreMismatchError(f"{where} has no gt3d: it cannot train or evaluate a lifter")
    return LevelGeometry(chosen, (int(input_size[0]), int(input_size[1])))


def model_kwargs(cfg: dict, geometry: LevelGeometry) -> dict[str, Any]:
    """The config's model section completed with the geometry, ready for ``build_model``."""
    kwargs = {k: v for k, v in copy.deepcopy(cfg["model"]).items() if k not in LIFT_ONLY_KEYS}
    kwargs["level_channels"] = [lv.channels for lv in geometry.levels]
    kwargs["level_strides"] = [lv.stride for lv in geometry.levels]
    kwargs["input_size_wh"] = list(geometry.input_size_wh)
    return kwargs


def build_lifter(cfg: dict, geometry: LevelGeometry) -> ContextAwarePoseFormer:
    return build_model(model_kwargs(cfg, geometry))
