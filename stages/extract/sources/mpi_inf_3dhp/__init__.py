"""MPI-INF-3DHP frame sources: `dataset = dict(type='mpi_inf_3dhp', layout='mmpose' | 'official', ...)`.

`layout='mmpose'` reads mmpose's preprocessed npz + cameras files (train and test); `layout='official'`
reads the official test set's TS<n>/annot_data.mat (MATLAB v7.3, via h5py) and image folders. Both
give the same per-frame labels and store the joints in the lifter's H36M-17 order (see `common`).
Each layout's keys and defaults: configs/extract/defaults.py (`datasets.mpi_inf_3dhp`).
"""

from __future__ import annotations

from pathlib import Path

from stages.extract.sources.mpi_inf_3dhp.mmpose_layout import MmposeLayoutSource
from stages.extract.sources.mpi_inf_3dhp.official_layout import OfficialLayoutSource


class Mpi3dhpSource:
    """The `mpi_inf_3dhp` dataset type: the layout picks the reader (the config is already complete
    and checked against that layout's keys by stages.extract.settings)."""

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> MmposeLayoutSource | OfficialLayoutSource:
        if cfg["layout"] == "mmpose":
            return MmposeLayoutSource(Path(data_root), annotation=cfg["annotation"], cameras=cfg["cameras"],
                                      images=cfg["images"], activities=cfg["activities"], dataset=cfg["name"])
        return OfficialLayoutSource(Path(data_root), annotation=cfg["annotation"], cameras=cfg["cameras"],
                                    joints_3d=cfg["joints_3d"], dataset=cfg["name"])


__all__ = ["MmposeLayoutSource", "Mpi3dhpSource", "OfficialLayoutSource"]
