"""`capf import`: a released checkpoint -> the files CAPF's own commands take.

    CKPT (the authors' CA-PF H36M / 3DHP file, or the official HRNet file; stages.authors.recognise)
      -> DIR/detector.pth     mmpose TopdownPoseEstimator state dict (backbone.*, head.final_layer.* when
                              the file has the heatmap layer), checked against the model its extract config
                              builds (every tensor present, none extra, every shape equal) before writing
      -> DIR/lifter.pth       CAPF lift checkpoint + DIR/lift_config.py (files with a lifter only)
      -> DIR/import.json      the source's sha256, what it was recognised as, the key maps, unused keys

Every refusal is one ``ImportRefused`` line naming the file, raised before anything is written; the
files are written into a temporary folder beside DIR and renamed into place, so an error leaves no
half import. An ``--out`` that holds anything but an earlier import of the same file is refused.
"""

from __future__ import annotations

import json
import shutil
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cache.key import sha256_file
from stages.authors.backbone_keys import (AUTHORS_BACKBONE_TO_MMPOSE, OFFICIAL_HRNET_TO_MMPOSE, apply_key_map,
                                          check_against_model, describe_key_map)
from stages.authors.recognise import (AUTHORS_3DHP, AUTHORS_H36M, BACKBONE_PREFIX, OFFICIAL_HRNET, Recognised,
                                      RecogniseError, recognise)

AUTHORS_LEVELS = "stage4_branch_outputs"
IMPORT_RECORD = "import.json"
# The extract config each kind of file belongs with, by HRNet width.
EXTRACT_CONFIGS = {AUTHORS_H36M: "configs/extract/h36m_hrnet_w{w}_authors.py",
                   AUTHORS_3DHP: "configs/extract/3dhp_hrnet_w{w}_authors.py",
                   OFFICIAL_HRNET: "configs/extract/video_hrnet_w{w}_authors.py"}


class ImportRefused(ValueError):
    """A checkpoint or an output folder `capf import` cannot take; one line naming the file."""


@dataclass
class ImportRequest:
    checkpoint: Path
    out: Path
    extract_config: Path | None = None  # None: the one the recognised file belongs with


@dataclass
class ImportResult:
    out: Path
    recognised: str
    width: int
    files: list[Path] = field(default_factory=list)
    extract_config: str = ""

    def summary(self) -> str:
        names = ", ".join(p.name for p in self.files)
        return f"{self.out}: {names} ({self.recognised}); extract config: {self.extract_config}"


def _load(path: Path) -> Recognised:
    if not path.is_file():
        raise ImportRefused(f"{path}: checkpoint not found")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a truncated or foreign file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ImportRefused(f"{path}: unreadable as a torch checkpoint (truncated or not a .pth file: {first})") from error
    try:
        return recognise(loaded, path)
    except RecogniseError as error:
        raise ImportRefused(str(error)) from error


def _names(keys: list[str], limit: int = 3) -> str:
    more = f" and {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def detector_model(extract_config: Path):
    """(extract settings, mmpose config, the detector's model with random weights) of an extract config."""
    from mmengine.config import Config

    from stages.detector.topdown import build_pose_model, load_detector_config
    from stages.extract.settings import extract_settings

    try:
        settings = extract_settings(Config.fromfile(str(extract_config)).to_dict())
    except Exception as error:
        raise ImportRefused(f"{extract_config}: cannot read the extract config ({type(error).__name__}: {error})") from error
    mm_cfg = load_detector_config(settings["detector"]["config"])
    return settings, mm_cfg, build_pose_model(mm_cfg)


def _config_width(mm_cfg) -> int | None:
    backbone = mm_cfg.model.get("backbone", {})
    if backbone.get("type") != "HRNet":
        return None
    return int(backbone["extra"]["stage4"]["num_channels"][0])


def detector_state(recognised: Recognised, extract_config: Path, source: Path) -> tuple[dict, list[str], list[str]]:
    """The mmpose detector state dict of a recognised file, checked against the extract config's
    model; returns (state, key map lines, unused source keys)."""
    settings, mm_cfg, model = detector_model(extract_config)
    width = _config_width(mm_cfg)
    if width is None:
        raise ImportRefused(f"{extract_config}: its detector ({settings['detector']['config']}) is not an HRNet")
    if width != recognised.width:
        raise ImportRefused(f"{source}: an HRNet-W{recognised.width} file, but {extract_config} builds HRNet-W{width}; "
                            f"use {EXTRACT_CONFIGS[recognised.kind].format(w=recognised.width)}")
    if settings["detector"]["hrnet_levels"] != AUTHORS_LEVELS:
        raise ImportRefused(f"{extract_config}: detector.hrnet_levels is {settings['detector']['hrnet_levels']!r}; "
                            f"the authors' lifter reads {AUTHORS_LEVELS!r} (the first stage-4 module's branch outputs)")
    key_map = OFFICIAL_HRNET_TO_MMPOSE if recognised.kind == OFFICIAL_HRNET else AUTHORS_BACKBONE_TO_MMPOSE
    backbone = {k: v for k, v in recognised.state.items()
                if recognised.kind == OFFICIAL_HRNET or k.startswith(BACKBONE_PREFIX)}
    mapped = apply_key_map(backbone, key_map)
    missing, unexpected, wrong = check_against_model(mapped.state, model.state_dict())
    if missing:
        hint = (" (the file has no heatmap layer: use a config without a head, "
                f"{EXTRACT_CONFIGS[recognised.kind].format(w=recognised.width)})"
                if all(k.startswith("head.") for k in missing) else "")
        raise ImportRefused(f"{source}: lacks {len(missing)} tensors of {extract_config}'s detector: {_names(missing)}{hint}")
    if unexpected:
        raise ImportRefused(f"{source}: {len(unexpected)} tensors that {extract_config}'s detector does not have: "
                            f"{_names(unexpected)}")
    if wrong:
        raise ImportRefused(f"{source}: {len(wrong)} tensors have another shape than {extract_config}'s detector: "
                            f"{_names(wrong)}")
    return mapped.state, describe_key_map(key_map), list(mapped.unused)


def _check_out(out: Path, source_sha256: str) -> None:
    """``out`` may be missing, empty, or an earlier import of the same file (replaced)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise ImportRefused(f"{out}: exists and is not a folder; --out takes a new or empty folder")
    entries = list(out.iterdir())
    if not entries:
        return
    record = out / IMPORT_RECORD
    try:
        earlier = json.loads(record.read_text()).get("source", {}).get("sha256")
    except (OSError, ValueError):
        earlier = None
    if earlier != source_sha256:
        raise ImportRefused(f"{out}: holds other files ({entries[0].name}, ...); --out takes a new or empty folder "
                            "(or an earlier import of the same checkpoint)")


def import_checkpoint(request: ImportRequest) -> ImportResult:
    """Recognise, map, check, then write DIR (module docstring)."""
    source, out = Path(request.checkpoint), Path(request.out)
    recognised = _load(source)
    source_sha256 = sha256_file(source)
    _check_out(out, source_sha256)
    from stages.detector.topdown import PROJECT_ROOT

    extract_config = Path(request.extract_config) if request.extract_config else \
        PROJECT_ROOT / EXTRACT_CONFIGS[recognised.kind].format(w=recognised.width)
    if not extract_config.is_file():
        raise ImportRefused(f"{extract_config}: extract config not found")
    detector, detector_map, unused = detector_state(recognised, extract_config, source)
    lifter = None
    if recognised.has_lifter:
        from stages.authors.lifter_import import lifter_files

        lifter = lifter_files(recognised, source, extract_config)
        unused += lifter.unused
    if unused:
        raise ImportRefused(f"{source}: {len(unused)} tensors no map claims: {_names(unused)}")

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}-{time.time_ns()}")
    tmp.mkdir(parents=True)
    try:
        torch.save({"state_dict": detector,
                    "meta": {"source": str(source), "source_sha256": source_sha256, "recognised": recognised.kind}},
                   tmp / "detector.pth")
        files = [out / "detector.pth"]
        record = {
            "source": {"path": str(source.resolve()), "sha256": source_sha256, "bytes": source.stat().st_size},
            "recognised": {"kind": recognised.kind, "description": recognised.describe(), "hrnet_width": recognised.width,
                           "dataset": recognised.dataset},
            "extract_config": _relative(extract_config, PROJECT_ROOT),
            "hrnet_levels": AUTHORS_LEVELS,
            "key_maps": {"detector.pth": detector_map},
            "unused_keys": unused,
            "outputs": {"detector.pth": {"tensors": len(detector), "heatmap_head": any(k.startswith("head.") for k in detector)}},
        }
        if lifter is not None:
            lifter.write(tmp)
            files += [out / name for name in lifter.file_names]
            record["key_maps"]["lifter.pth"] = lifter.key_map
            record["outputs"].update(lifter.record)
        for name in list(record["outputs"]):
            record["outputs"][name]["sha256"] = sha256_file(tmp / name)
        (tmp / IMPORT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
        files.append(out / IMPORT_RECORD)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportResult(out, recognised.describe(), recognised.width, files, record["extract_config"])


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path.resolve())
