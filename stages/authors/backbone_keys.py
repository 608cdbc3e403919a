"""Key maps from the authors' and the HRNet authors' checkpoint names onto an mmpose top-down HRNet.

The official HRNet code (deep-high-resolution-net.pytorch) and mmpose's ``HRNet`` build the same
modules under the same attribute names (``conv1``/``bn1``, ``layer1`` bottlenecks with
``downsample.0/1``, ``transition<k>``, ``stage<k>.<m>.branches``/``fuse_layers``), so a backbone
tensor keeps its name behind mmpose's ``backbone.`` prefix; the official file's heatmap layer
``final_layer`` becomes mmpose's ``head.final_layer`` (the ``HeatmapHead`` without deconvolutions).
The authors' CA-PF checkpoint holds the same backbone under ``module.backbone.`` (``DataParallel``
plus their model's attribute) and no heatmap layer.

Each map is a list of (source prefix, target prefix) rules, first match wins; ``apply_key_map``
renames a state dict and reports what no rule claimed, and ``check_against_model`` compares the
result with a model's own state dict, so a wrong map is refused before a file is written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

KeyMap = Sequence[tuple[str, str]]

# official pose_hrnet_w{32,48}_256x192.pth -> mmpose TopdownPoseEstimator
OFFICIAL_HRNET_TO_MMPOSE: KeyMap = (("final_layer.", "head.final_layer."), ("", "backbone."))
# the authors' CA-PF checkpoint (module.backbone.*) -> mmpose TopdownPoseEstimator without a head
AUTHORS_BACKBONE_TO_MMPOSE: KeyMap = (("module.backbone.", "backbone."),)


@dataclass(frozen=True)
class MappedState:
    """A renamed state dict, and the source names no rule claimed (left out of ``state``)."""

    state: dict
    unused: tuple[str, ...]


def apply_key_map(state: Mapping[str, object], key_map: KeyMap) -> MappedState:
    """Rename every key by the first rule whose source prefix it starts with."""
    out, unused = {}, []
    for name, value in state.items():
        for source, target in key_map:
            if name.startswith(source):
                out[target + name[len(source):]] = value
                break
        else:
            unused.append(name)
    return MappedState(out, tuple(unused))


def describe_key_map(key_map: KeyMap) -> list[str]:
    """The rules as ``"source* -> target*"`` lines (for ``import.json``)."""
    return [f"{source}* -> {target}*" for source, target in key_map]


def check_against_model(mapped: Mapping[str, object], model_state: Mapping[str, object]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, wrong shape) names of ``mapped`` against a model's ``state_dict()``;
    ``num_batches_tracked`` counts as missing too (a strict load needs it)."""
    missing = [k for k in model_state if k not in mapped]
    unexpected = [k for k in mapped if k not in model_state]
    wrong = [k for k in mapped if k in model_state
             and tuple(getattr(mapped[k], "shape", ())) != tuple(model_state[k].shape)]
    return missing, unexpected, wrong
