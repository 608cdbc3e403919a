"""MPI-INF-3DHP frame sources: `dataset = dict(type='mpi_inf_3dhp', layout='mmpose' | 'official', ...)`.

`layout='mmpose'` reads mmpose's preprocessed npz + cameras files (train and test; 3D = `annot3`);
`layout='official'` reads the dataset as it ships: the test set's TS<n>/annot_data.mat (MATLAB v7.3,
via h5py) and image folders, the training set's S<s>/Seq<q>/annot.mat (MATLAB v5, via scipy) with
its videos or extracted frames; 3D = `univ_annot3` or `annot3` by `joints_3d`. Both
give the same per-frame labels and store the joints in the lifter's H36M-17 order (see `common`).
Each layout's keys and defaults: configs/extract/defaults.py (`datasets.mpi_inf_3dhp`).
"""

from __future__ import annotations

from pathlib import Path

from stages.extract.sources.h36m import CROPS
from stages.extract.sources.mpi_inf_3dhp.mmpose_layout import MmposeLayoutSource
from stages.extract.sources.mpi_inf_3dhp.official_layout import OfficialLayoutSource


class Mpi3dhpSource:
    """The `mpi_inf_3dhp` dataset type: the layout picks the reader (the config is already complete
    and checked against that layout's keys by stages.extract.settings)."""

    CROPS = CROPS  # 'authors': their 2 m box at the 3D pelvis, from the ground truth and the intrinsics

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> MmposeLayoutSource | OfficialLayoutSource:
        if cfg["layout"] == "mmpose":
            return MmposeLayoutSource(Path(data_root), annotation=cfg["annotation"], cameras=cfg["cameras"],
                                      images=cfg["images"], activities=cfg["activities"], dataset=cfg["name"],
                                      crop=cfg["crop"])
        return OfficialLayoutSource(Path(data_root), annotation=cfg["annotation"], cameras=cfg["cameras"],
                                    joints_3d=cfg["joints_3d"], dataset=cfg["name"],
                                    train_cameras=tuple(cfg["train_cameras"]), train_frames=cfg["train_frames"],
                                    train_frame_step=cfg["train_frame_step"], crop=cfg["crop"])


__all__ = ["MmposeLayoutSource", "Mpi3dhpSource", "OfficialLayoutSource"]
