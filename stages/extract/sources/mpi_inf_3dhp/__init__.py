"""MPI-INF-3DHP frame sources: `dataset = dict(type='mpi_inf_3dhp', layout='mmpose' | 'official', ...)`.

`layout='mmpose'` reads mmpose's preprocessed npz + cameras files (train and test); `layout='official'`
reads the official test set's TS<n>/annot_data.mat (MATLAB v7.3, via h5py) and image folders. Both
give the same per-frame labels and store the joints in the lifter's H36M-17 order (see `common`).
"""

from __future__ import annotations

from pathlib import Path

from stages.extract.sources.base import SourceError
from stages.extract.sources.mpi_inf_3dhp.mmpose_layout import MmposeLayoutSource
from stages.extract.sources.mpi_inf_3dhp.official_layout import OfficialLayoutSource

LAYOUTS = ("mmpose", "official")
_KEYS = {"mmpose": {"annotation", "cameras", "images", "activities"},
         "official": {"annotation", "cameras", "joints_3d"}}


class Mpi3dhpSource:
    """The `mpi_inf_3dhp` dataset type: picks the layout's reader and refuses keys it does not use."""

    @classmethod
    def from_config(cls, cfg: dict, data_root: Path) -> MmposeLayoutSource | OfficialLayoutSource:
        layout = cfg.get("layout", "mmpose")
        if layout not in LAYOUTS:
            raise SourceError(f"dataset.layout must be one of {LAYOUTS}, got {layout!r}")
        unknown = set(cfg) - _KEYS[layout] - {"type", "name", "layout"}
        if unknown:
            raise SourceError(f"dataset keys {sorted(unknown)} do not apply to the {layout!r} 3DHP layout "
                              f"(it reads {sorted(_KEYS[layout])})")
        options = {key: cfg[key] for key in _KEYS[layout] if cfg.get(key) is not None}
        if layout == "mmpose":
            return MmposeLayoutSource(Path(data_root), dataset=cfg.get("name", "mpi_inf_3dhp"), **options)
        return OfficialLayoutSource(Path(data_root), dataset=cfg.get("name", "mpi_inf_3dhp"), **options)


__all__ = ["LAYOUTS", "MmposeLayoutSource", "Mpi3dhpSource", "OfficialLayoutSource"]
