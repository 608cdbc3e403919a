"""The lifter half of `capf import`: an authors' CA-PF file's ``module.volume_net.*`` as CAPF's lift
checkpoint (``lifter.pth``) and config (``lift_config.py``).

The key map, the settings the weights imply, the joint-order handling (:mod:`stages.authors.lifter_keys`)
and the config's sections (:mod:`stages.authors.lift_config`) are decided elsewhere; this module writes
them in the formats CAPF's commands read: ``{'state_dict', 'meta'}`` as training saves it (``meta``
names the levels, the model's geometry and the source, which ``capf infer`` checks against the
detector), and a config whose ``_base_`` is the extract config the detector belongs with, so `capf
eval` finds the store `make extract` made with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from stages.authors.recognise import Recognised


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
    from stages.authors.lift_config import lift_config_text
    from stages.authors.lifter_keys import LifterKeyError, convert_lifter

    try:
        converted = convert_lifter(recognised.state)
    except LifterKeyError as error:
        raise ImportRefused(f"{source}: {error}") from error
    checkpoint = converted.lift_checkpoint(source=str(source), recognised=recognised.kind,
                                           authors_joint_order=converted.settings.joint_order)
    header = [f"`capf import {Path(source).name}`: {recognised.describe()}.",
              "The extract sections (_base_) are those of the config the imported detector belongs with."]
    config_text = lift_config_text(converted.settings, header=header, bases=[str(Path(extract_config).resolve())])
    return LifterFiles(checkpoint, config_text,
                       dict(converted.key_map), [k for k in converted.unused if not k.startswith("module.backbone.")])
