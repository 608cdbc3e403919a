"""An imported CA-PF lifter (``DIR/lifter.pth`` + ``DIR/lift_config.py`` of `capf import`), built and
run as CAPF's own evaluation builds and runs a lifter: its config completed by ``lift_settings``, the
model built for the detector's levels, the weights loaded strictly.

CAPF's lifter always takes and returns joints in Human3.6M-17 order; an imported 3DHP lifter was
converted to that order (:mod:`stages.authors.lifter_keys`), so joints the authors' 3DHP model read in
its own order are compared after ``to_capf_order`` (MPI-INF-3DHP -> Human3.6M-17 rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cache.store import LevelSpec


@dataclass
class ImportedLifter:
    model: torch.nn.Module
    authors_joint_order: str  # "h36m17" or "mpi3dhp17": the order the source model worked in

    @torch.no_grad()
    def predict(self, batch: dict) -> torch.Tensor:
        """``(B, 17, 3)`` in H36M-17 order from a batch with ``pose2d``, ``feats``, ``ref_px``."""
        from stages.lift.runtime import forward_batch

        return forward_batch(self.model.eval(), batch).float()

    def to_capf_order(self, kp: np.ndarray) -> np.ndarray:
        """``(..., 17, D)`` rows in the source model's order -> the Human3.6M-17 rows CAPF's model uses."""
        from stages.lift.joints import mpi3dhp17_to_h36m17

        kp = np.ascontiguousarray(kp, dtype=np.float32)
        return np.ascontiguousarray(mpi3dhp17_to_h36m17(kp)) if self.authors_joint_order == "mpi3dhp17" else kp


def load_imported_lifter(folder: Path, levels: Sequence[LevelSpec], input_size_wh: tuple[int, int]) -> ImportedLifter:
    """The lifter of an import folder for a detector with ``levels`` (name, stride, channels, shape)."""
    from mmengine.config import Config

    from stages.infer.lifting import LiftCheckpoint
    from stages.lift.build import LevelGeometry, build_lifter, requested_levels
    from stages.lift.checkpoints import load_weights
    from stages.lift.settings import lift_settings

    folder = Path(folder)
    cfg = lift_settings(Config.fromfile(str(folder / "lift_config.py")).to_dict())
    by_name = {level.name: level for level in levels}
    geometry = LevelGeometry(tuple(by_name[name] for name in requested_levels(cfg["model"])), tuple(input_size_wh))
    model = build_lifter(cfg, geometry)
    checkpoint = LiftCheckpoint.load(folder / "lifter.pth")
    load_weights(model, {"state_dict": checkpoint.state_dict}, checkpoint.path)
    return ImportedLifter(model.eval(), str(checkpoint.meta.get("authors_joint_order", "h36m17")))
