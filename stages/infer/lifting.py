"""The lifter of ``capf infer``: a CAPF checkpoint, checked against the 2D detector, run over a store.

``lift_window`` is the one inference path: a window of store records -> 3D joints, through the same
input assembly as training and evaluation (``lift_dataset`` builds the dataset the lifter reads,
``predict`` and ``evaluate`` run the model, flip test included). A single-frame lifter takes any set
of records in one window; a temporal lifter will take one track's consecutive records per window,
the same call (``lift_dataset`` already gives it its sequence dataset; its joint features and
per-track windows are not wired into ``capf infer`` yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cache.key import sha256_file
from cache.store import FeatureStore, LevelSpec
from stages.lift.build import LevelGeometry, build_lifter, geometry_from_store
from stages.lift.augment import resolve_flip_features
from stages.lift.dataset import MM_PER_M, BatchRequest, FrameBatchSampler, make_loader
from stages.lift.checkpoints import load_checkpoint_file, load_weights
from stages.lift.evaluate import evaluate, evaluation_protocol, predict
from stages.lift.model import ContextAwarePoseFormer
from stages.lift.sequence_dataset import lift_dataset


class LifterError(ValueError):
    """The lift checkpoint cannot serve this detector or store; the message names the file."""


@dataclass
class LiftCheckpoint:
    """A lift checkpoint's file, digest and what it was trained with (its ``meta``)."""

    path: Path
    sha256: str
    state_dict: dict
    meta: dict

    @classmethod
    def load(cls, path: Path) -> "LiftCheckpoint":
        path = Path(path)
        if not path.is_file():
            raise LifterError(f"{path}: lift checkpoint not found")
        saved = load_checkpoint_file(path)  # ResumeError (one line) when unreadable
        if not isinstance(saved, dict) or "state_dict" not in saved:
            raise LifterError(f"{path}: not a CAPF lift checkpoint (no state_dict)")
        return cls(path, sha256_file(path), saved["state_dict"], dict(saved.get("meta", {})))

    def expected_levels(self) -> list[tuple[str, int, int]] | None:
        """(name, stride, channels) of the levels the lifter was trained on, from its meta."""
        model, names = self.meta.get("model", {}), self.meta.get("levels")
        if not names or "level_strides" not in model:
            return None
        return list(zip(names, model["level_strides"], model["level_channels"]))

    def expected_input_size(self) -> tuple[int, int] | None:
        size = self.meta.get("model", {}).get("input_size_wh")
        return (int(size[0]), int(size[1])) if size else None


def check_detector_fits(checkpoint: LiftCheckpoint, levels: tuple[LevelSpec, ...] | None,
                        input_size_wh: tuple[int, int], detector_label: str) -> None:
    """Refuse a detector whose crop size or feature levels differ from the lifter's training store
    (``levels=None``: the crop size only, known from the detector's config without building it)."""
    want_size = checkpoint.expected_input_size()
    if want_size is not None and tuple(want_size) != tuple(input_size_wh):
        raise LifterError(f"{checkpoint.path}: the lifter was trained on {want_size[0]}x{want_size[1]} (w x h) "
                          f"crops but the detector {detector_label} crops {input_size_wh[0]}x{input_size_wh[1]}; "
                          "use the detector the lifter was trained with")
    if levels is None:
        return
    by_name = {lv.name: lv for lv in levels}
    for name, stride, channels in checkpoint.expected_levels() or []:
        have = by_name.get(name)
        if have is None or (have.stride, have.channels) != (int(stride), int(channels)):
            got = f"stride {have.stride}, {have.channels} ch" if have else "no such level"
            raise LifterError(f"{checkpoint.path}: the lifter reads level {name} with stride {stride}, {channels} ch "
                              f"but the detector {detector_label} has {got}; use the detector the lifter was "
                              "trained with")


@dataclass
class Lifter:
    """A lifter ready to run on one store: the model with the checkpoint's weights and its settings."""

    model: ContextAwarePoseFormer
    geometry: LevelGeometry
    device: torch.device
    batch_size: int
    flip_test: bool
    amp: str | None
    dataset_type: str
    cfg: dict  # completed by lift_settings: its train/data sections shape the dataset


def load_lifter(cfg: dict, checkpoint: LiftCheckpoint, store: FeatureStore, *, device: torch.device,
                batch_size: int, flip_test: bool, amp: str | None) -> Lifter:
    """Build the config's lifter (``cfg`` completed by ``lift_settings``) for the store's levels and
    load the checkpoint's weights, as ``capf eval`` does, so inference and evaluation run the very
    same model."""
    geometry = geometry_from_store(cfg, store, need_targets=False)
    model = build_lifter(cfg, geometry)
    load_weights(model, {"state_dict": checkpoint.state_dict}, checkpoint.path)
    model.to(device).eval()
    return Lifter(model, geometry, device, batch_size, flip_test, amp, evaluation_protocol(cfg, store), cfg)


@dataclass
class LiftedWindow:
    kp3d_mm: np.ndarray        # (N, 17, 3) root-relative, camera axes
    metrics: dict | None       # MPJPE etc. against the store's gt3d, when it has one


def lift_window(lifter: Lifter, store_path: Path, records: np.ndarray) -> LiftedWindow:
    """3D joints of ``records`` (store indices, ascending) of the store at ``store_path``.

    With ground truth in the store this is ``evaluate`` itself (the metrics are the ones ``capf eval``
    reports on the same frames); without, ``predict`` on the same batches.
    """
    flip_features = resolve_flip_features(lifter.cfg["eval"].get("flip_features", "auto"),
                                          FeatureStore.open(store_path), "eval.flip_features")
    dataset = lift_dataset(lifter.model, store_path, np.asarray(records, dtype=np.int64), lifter.geometry.names,
                           train_cfg=lifter.cfg["train"], data_cfg=lifter.cfg["data"],
                           flip_features=flip_features if lifter.flip_test else "mirrored")
    if dataset.inputs.target_m is not None:
        result = evaluate(lifter.model, dataset, device=lifter.device, batch_size=lifter.batch_size, workers=0,
                          flip_test=lifter.flip_test, amp=lifter.amp, dataset_type=lifter.dataset_type,
                          flip_features=flip_features)
        return LiftedWindow(result.pred_mm.astype(np.float32), result.metrics)
    batches = FrameBatchSampler(len(dataset), lifter.batch_size, shuffle=False).batches()
    if lifter.flip_test and getattr(dataset, "has_flip_maps", False):  # the flip test reads both map sets
        batches = [BatchRequest(b, ("feat", "feat_flip")) for b in batches]
    loader = make_loader(dataset, batches, workers=0, pin_memory=lifter.device.type == "cuda")
    pred_m = predict(lifter.model, loader, device=lifter.device, flip_test=lifter.flip_test, amp=lifter.amp)
    return LiftedWindow((pred_m * MM_PER_M).astype(np.float32), None)
