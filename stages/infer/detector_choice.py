"""Which 2D detector serves a lift checkpoint: the one it was trained on.

The checkpoint's ``meta`` names its training store; that store's attributes record the detector
config and the checkpoint's sha256 (``key_inputs``). A detector checkpoint given by the user must have
that sha256 (other weights make other features, which mean nothing to the lifter); a lifter trained
on a random-init detector (tests, smoke runs) gets the same seeded random weights back. When the
training store is gone, the lift config's ``detector`` section is the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cache.store import FeatureStore, StoreError
from stages.infer.lifting import LiftCheckpoint, LifterError, check_detector_fits


@dataclass(frozen=True)
class DetectorChoice:
    config: str
    name: str
    checkpoint: Path | None
    random_init: bool
    seed: int
    flip_test: bool
    trained_sha256: str | None  # what the lifter's training store recorded, if known
    hrnet_levels: str = "stage4_inputs"  # HRNet's levels 1-3 the lifter reads (stages.detector.topdown)


def training_store_attrs(meta: dict) -> dict | None:
    """Attributes of the store a lift checkpoint was trained on, when it is still readable."""
    path = meta.get("store_path")
    if not path or not Path(path).exists():
        return None
    try:
        return FeatureStore.open(Path(path), allow_incomplete=True).attrs
    except StoreError:
        return None


def choose_detector(cfg: dict, meta: dict, *, detector_config: str | None = None,
                    detector_checkpoint: Path | None = None, random_init: bool = False) -> DetectorChoice:
    """The detector for a lifter (module docstring); ``LifterError`` when none can be told or the given
    weights are not the lifter's (``DetectorError`` for a missing checkpoint file)."""
    from stages.detector.topdown import DetectorError, resolve_config_path, verify_checkpoint

    attrs = training_store_attrs(meta) or {}
    key_inputs = attrs.get("key_inputs", {})
    section = dict(cfg.get("detector", {}))
    config = detector_config
    if config is None and attrs.get("detector_config"):
        try:
            config = str(resolve_config_path(attrs["detector_config"]))
        except DetectorError:
            config = None  # recorded on another machine: the lift config's section says it too
    config = config or section.get("config")
    if not config:
        raise LifterError("neither the lifter's training store nor its config names the 2D detector; "
                          "pass --detector-config")
    trained = key_inputs.get("checkpoint_sha256") or section.get("checkpoint_sha256")
    name = section.get("name") or attrs.get("detector") or Path(config).stem
    flip = bool(key_inputs.get("flip_test", section.get("flip_test", False)))
    seed = int(section.get("seed", 0))
    levels = str(attrs.get("hrnet_levels") or section.get("hrnet_levels") or "stage4_inputs")
    if random_init:
        return DetectorChoice(config, name, None, True, seed, flip, trained, levels)
    if detector_checkpoint is not None:
        digest = verify_checkpoint(Path(detector_checkpoint), None)
        if trained and not trained.startswith("random-init") and digest != trained:
            raise LifterError(f"{detector_checkpoint}: sha256 {digest[:12]}… is not the detector the lifter was "
                              f"trained with ({trained[:12]}…); its features would mean nothing to the lifter")
        return DetectorChoice(config, name, Path(detector_checkpoint), False, seed, flip, trained, levels)
    if trained and trained.startswith("random-init:"):
        return DetectorChoice(config, name, None, True, int(trained.split(":", 1)[1]), flip, trained, levels)
    hint = f" (sha256 {trained[:12]}…)" if trained else ""
    raise LifterError(f"pass the 2D detector's checkpoint{hint} with --checkpoint / CHECKPOINT=")


def build_detector(choice: DetectorChoice, device: str):
    """The chosen detector as a ``TopdownDetector`` (the wrapper stage one runs)."""
    from stages.detector.topdown import TopdownDetector

    return TopdownDetector(choice.config, choice.checkpoint, random_init=choice.random_init, seed=choice.seed,
                           device=device, flip_test=choice.flip_test, hrnet_levels=choice.hrnet_levels)


@dataclass
class LiftModels:
    """A lifter and the 2D detector that serves it, resolved and checked (``capf infer``, ``capf live``)."""

    checkpoint: LiftCheckpoint
    cfg: dict  # completed by lift_settings
    config_path: Path
    detector: DetectorChoice
    demo: bool  # the demo's models (no checkpoint given)

    def check_detector(self, levels, input_size_wh) -> None:
        """Refuse a detector whose levels or crop size the lifter was not trained on (LifterError)."""
        check_detector_fits(self.checkpoint, levels, input_size_wh, self.detector.config)
