"""An imported CA-PF lifter (``DIR/lifter.pth`` + ``DIR/lift_config.py`` of `capf import`), built and
run as CAPF's own evaluation builds and runs a lifter: its config completed by ``lift_settings``, the
model built for the detector's levels, the weights loaded strictly.

CAPF's lifter always takes and returns joints in Human3.6M-17 order; an imported 3DHP lifter was
converted to that order, so ``to_authors_order`` puts its output back in MPI-INF-3DHP's own order
(the order the authors' model and their reported numbers use).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from cache.store import LevelSpec


@dataclass
class ImportedLifter:
    model: torch.nn.Module
    dataset: str  # "h36m" or "3dhp": the file it came from

    @torch.no_grad()
    def predict(self, batch: dict) -> torch.Tensor:
        """``(B, 17, 3)`` in H36M-17 order from a batch with ``pose2d``, ``feats``, ``ref_px``."""
        from stages.lift.runtime import forward_batch

        return forward_batch(self.model.eval(), batch).float()

    def to_authors_order(self, pred: torch.Tensor):
        """``(B, 17, 3)`` in the order the authors' model of this dataset outputs, as numpy."""
        from stages.lift.joints import h36m17_to_mpi3dhp17

        pred = pred.cpu().numpy()
        return h36m17_to_mpi3dhp17(pred) if self.dataset == "3dhp" else pred


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
    dataset = json.loads((folder / "import.json").read_text())["recognised"]["dataset"]
    return ImportedLifter(model.eval(), dataset)
