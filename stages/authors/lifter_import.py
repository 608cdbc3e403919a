"""The lifter half of `capf import`: an authors' CA-PF file's ``module.volume_net.*`` as CAPF's lift
checkpoint (``lifter.pth``) and config (``lift_config.py``).

The key map, the settings the weights imply and the joint-order handling are
:mod:`stages.authors.lifter_keys`' (``convert_lifter``); this module only writes them in the formats
CAPF's commands read: ``{'state_dict', 'meta'}`` as training saves it (``meta`` names the levels, the
model's geometry and the source, as ``capf infer`` checks them against the detector), and a config
that inherits the extract config the detector belongs with (so `capf eval` finds the store `make
extract` made) and the lift base, with every model option at the authors' value.
"""

from __future__ import annotations

import pprint
from dataclasses import dataclass, field
from pathlib import Path

import torch

from stages.authors.recognise import AUTHORS_3DHP, Recognised

LIFT_BASES = {"h36m": "configs/lift/capf_base.py", "3dhp": "configs/lift/capf_3dhp.py"}


@dataclass
class LifterFiles:
    """What the lifter adds to an import folder."""

    checkpoint: dict
    config_text: str
    key_map: dict[str, str]
    unused: list[str] = field(default_factory=list)
    file_names: tuple[str, ...] = ("lifter.pth", "lift_config.py")

    @property
    def record(self) -> dict:
        settings = self.checkpoint["meta"]["model"]
        return {"lifter.pth": {"tensors": len(self.checkpoint["state_dict"]), "context": settings["context"],
                               "embed_dim": settings["embed_dim"], "level_channels": settings["level_channels"],
                               "joint_order_of_source": self.checkpoint["meta"]["authors_joint_order"]},
                "lift_config.py": {}}

    def write(self, folder: Path) -> None:
        torch.save(self.checkpoint, Path(folder) / "lifter.pth")
        (Path(folder) / "lift_config.py").write_text(self.config_text)


def lifter_files(recognised: Recognised, source: Path, extract_config: Path) -> LifterFiles:
    """Convert the lifter of a recognised CA-PF file; ``ImportRefused`` (one line) when it does not fit."""
    from stages.authors.importer import ImportRefused
    from stages.authors.lifter_keys import LifterKeyError, convert_lifter
    from stages.detector.topdown import PROJECT_ROOT

    try:
        converted = convert_lifter(recognised.state)
    except LifterKeyError as error:
        raise ImportRefused(f"{source}: {error}") from error
    kwargs = converted.settings.model_kwargs()
    model = {key: (list(value) if isinstance(value, tuple) else value) for key, value in kwargs.items()}
    levels = [str(i) for i in range(len(model["level_channels"]))]
    meta = {"model": model, "levels": levels, "source": str(source), "recognised": recognised.kind,
            "authors_joint_order": converted.settings.joint_order, "epoch": None}
    dataset = "3dhp" if recognised.kind == AUTHORS_3DHP else "h36m"
    bases = [str(Path(extract_config).resolve()), str(PROJECT_ROOT / LIFT_BASES[dataset])]
    config_text = "\n".join([
        f"# `capf import {Path(source).name}`: {recognised.describe()}.",
        "# The model as the weights imply it, every parity option at the authors' value (reference convention,",
        "# zero padding of the initial samples, LayerNorm eps of the deformable layers); their evaluation without",
        "# re-rooting, fp32. The extract sections are those of the config the imported detector belongs with.",
        f"_base_ = {bases!r}",
        f"model = {pprint.pformat({'levels': [int(l) for l in levels], **model}, sort_dicts=False, width=100)}",
        f"detector_levels = dict(input_size_wh={tuple(model['input_size_wh'])!r}, strides={model['level_strides']!r}, "
        f"channels={model['level_channels']!r})",
        "train = dict(amp=False)",
        "eval = dict(reroot=False)",
        "",
    ])
    return LifterFiles({"state_dict": converted.state_dict, "meta": meta}, config_text,
                       dict(converted.key_map), [k for k in converted.unused if not k.startswith("module.backbone.")])
