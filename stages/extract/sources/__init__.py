"""Dataset adapters ("frame sources"), selected by the `type` of a config's `dataset` section."""

from __future__ import annotations

from pathlib import Path

from stages.extract.sources.base import FrameIndex, FrameSource, SourceError, load_frame
from stages.extract.sources.h36m import CROPS as H36M_CROPS
from stages.extract.sources.h36m import H36mSource
from stages.extract.sources.media import ImageFolderSource, VideoSource
from stages.extract.sources.mpi_inf_3dhp import Mpi3dhpSource

SOURCES = {"h36m": H36mSource, "images": ImageFolderSource, "video": VideoSource, "mpi_inf_3dhp": Mpi3dhpSource}


def build_source(cfg: dict, data_root: Path) -> FrameSource:
    """cfg: the config's `dataset` dict (`type` picks the adapter); data_root: where its files are."""
    from stages.extract.settings import dataset_settings

    kind = cfg.get("type")
    if kind not in SOURCES:
        raise SourceError(f"unknown dataset type {kind!r}; known: {sorted(SOURCES)}")
    settings = dataset_settings(cfg)
    crop, crops = settings.get("crop", "annotation"), getattr(SOURCES[kind], "CROPS", ("annotation",))
    if crop not in H36M_CROPS:
        raise SourceError(f"dataset.crop must be one of {list(H36M_CROPS)}, got {crop!r}")
    if crop not in crops:  # 'authors' is their H36M toolbox's box, built from the 3D pelvis and the cameras
        raise SourceError(f"dataset.crop={crop!r} is not available for type {kind!r} (only the h36m and mpi_inf_3dhp sources, "
                          f"with 3D ground truth and cameras, builds it); use one of {list(crops)}")
    return SOURCES[kind].from_config(settings, Path(data_root))


__all__ = ["FrameIndex", "FrameSource", "SourceError", "SOURCES", "build_source", "load_frame"]
