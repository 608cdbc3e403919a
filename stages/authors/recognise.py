"""Which released checkpoint a file is, told from its keys alone.

Three layouts are known (the names and the pages that host them: docs/authors_weights.md):
- the authors' Human3.6M CA-PF checkpoint: ``{'model': state_dict}`` (their ``train.py`` saves it
  so), ``module.backbone.*`` (their frozen HRNet) + ``module.volume_net.*`` (the lifter);
- the authors' MPI-INF-3DHP CA-PF checkpoint: the same two groups as a bare state dict;
- the official HRNet COCO file (``pose_hrnet_w{32,48}_256x192.pth``): a bare state dict with the
  heatmap layer ``final_layer.*`` and no ``module.`` prefix.
The HRNet width (32 or 48) is read from the first stage-4 branch's channels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

AUTHORS_H36M = "authors_ca_pf_h36m"
AUTHORS_3DHP = "authors_ca_pf_3dhp"
OFFICIAL_HRNET = "official_hrnet"
KINDS = (AUTHORS_H36M, AUTHORS_3DHP, OFFICIAL_HRNET)
HRNET_WIDTHS = (32, 48)
WIDTH_PROBE = "stage4.0.branches.0.0.conv1.weight"  # (C_0, C_0, 3, 3): C_0 = the HRNet's width
BACKBONE_PREFIX = "module.backbone."
LIFTER_PREFIX = "module.volume_net."


class RecogniseError(ValueError):
    """The file is none of the known checkpoints; the message names it and says why."""


@dataclass(frozen=True)
class Recognised:
    """What a checkpoint file is: its kind, HRNet width and the state dict inside it."""

    kind: str
    width: int
    state: dict

    @property
    def has_lifter(self) -> bool:
        return self.kind in (AUTHORS_H36M, AUTHORS_3DHP)

    @property
    def dataset(self) -> str:
        """The dataset the file belongs with: h36m, 3dhp, or coco (the official 2D detector)."""
        return {AUTHORS_H36M: "h36m", AUTHORS_3DHP: "3dhp", OFFICIAL_HRNET: "coco"}[self.kind]

    def describe(self) -> str:
        return {AUTHORS_H36M: f"the authors' Human3.6M CA-PF checkpoint (HRNet-W{self.width} + lifter)",
                AUTHORS_3DHP: f"the authors' MPI-INF-3DHP CA-PF checkpoint (HRNet-W{self.width} + lifter)",
                OFFICIAL_HRNET: f"the official HRNet-W{self.width} COCO checkpoint (backbone + heatmap layer)"}[self.kind]


def _is_state_dict(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(k, str) for k in value) \
        and all(hasattr(v, "shape") for v in value.values())


def _width(state: Mapping, prefix: str, path: Path) -> int:
    probe = state.get(prefix + WIDTH_PROBE)
    if probe is None:
        raise RecogniseError(f"{path}: no {prefix}{WIDTH_PROBE}: not an HRNet checkpoint")
    width = int(probe.shape[0])
    if width not in HRNET_WIDTHS:
        raise RecogniseError(f"{path}: HRNet width {width}; the released checkpoints are W32 or W48")
    return width


def recognise(loaded: object, path: Path) -> Recognised:
    """The kind of a ``torch.load``-ed object (module docstring); ``RecogniseError`` otherwise."""
    path = Path(path)
    # their train.py saves {'model': state_dict} (a training state may add 'epoch', 'optimizer', ...)
    wrapped = isinstance(loaded, Mapping) and _is_state_dict(loaded.get("model"))
    state = loaded["model"] if wrapped else loaded
    if not _is_state_dict(state):
        raise RecogniseError(f"{path}: not a state dict (nor {{'model': state_dict}}): none of the authors' "
                             "CA-PF checkpoints or the official HRNet file")
    keys = list(state)
    has_backbone = any(k.startswith(BACKBONE_PREFIX) for k in keys)
    has_lifter = any(k.startswith(LIFTER_PREFIX) for k in keys)
    if has_backbone and has_lifter:
        return Recognised(AUTHORS_H36M if wrapped else AUTHORS_3DHP, _width(state, BACKBONE_PREFIX, path), dict(state))
    if not wrapped and "final_layer.weight" in state and not any(k.startswith("module.") for k in keys):
        return Recognised(OFFICIAL_HRNET, _width(state, "", path), dict(state))
    if has_backbone or has_lifter:
        missing = LIFTER_PREFIX if has_backbone else BACKBONE_PREFIX
        raise RecogniseError(f"{path}: has {BACKBONE_PREFIX if has_backbone else LIFTER_PREFIX}* but no {missing}*: "
                             "an incomplete CA-PF checkpoint")
    raise RecogniseError(f"{path}: keys (first: {keys[0]}) match none of the authors' CA-PF checkpoints "
                         "(module.backbone.* + module.volume_net.*) or the official HRNet file (final_layer.*)")
