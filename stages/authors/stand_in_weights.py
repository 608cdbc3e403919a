"""Stand-in weights for the authors' CA-PF checkpoints, rebuilt from tensor names and shapes alone.

No released checkpoint can be downloaded where CAPF is tested, so its parity fixtures (the authors'
own code run on real crops) were computed with weights that are a function of (seed, name, shape)
only. Rebuilding them here, from a ``{name: shape}`` manifest, gives CAPF the very checkpoint those
fixtures saw, number for number, without shipping it. The rule::

    rng = numpy.random.default_rng([seed, zlib.crc32(name.encode())])   # name as the checkpoint spells it
    n   = rng.standard_normal(shape, dtype=numpy.float32)
    *.num_batches_tracked -> zeros (int64)
    leaf running_var  -> 0.5 + 0.5 |n|      leaf running_mean -> 0.1 n      leaf bias -> 0.05 n
    any other 1-D     -> 1 + 0.1 n          'pos_embed' in name -> 0.02 n   otherwise -> n / sqrt(fan_in)

so BatchNorm statistics stay valid, norm scales sit near 1 and activations stay O(1) through deep
nets. Every BatchNorm's running statistics are then replaced by the fixture's calibrated ones
(``<variant>_bn_stats.npz``, measured on the fixture's crops), because random statistics would let
HRNet's activations grow or vanish over its ~70 layers.

The fixture folder's layout (``manifest.json``: ``seed``, ``variants.<v>.authors_checkpoint`` and
``official_hrnet_checkpoint`` as ``{name: shape}``) is read by :func:`stand_in_checkpoint`.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

BACKBONE_PREFIX = "module.backbone."  # the authors' HRNet inside their checkpoints
OFFICIAL_HEATMAP_KEYS = ("final_layer.weight", "final_layer.bias")  # the official HRNet's head, 17 COCO joints
COCO_JOINTS = 17


class StandInError(ValueError):
    """A manifest or statistics file that does not describe the stand-in checkpoint it claims to."""


def weight_for(name: str, shape: Sequence[int], seed: int) -> np.ndarray:
    """The value of one tensor of a stand-in checkpoint, by the rule in the module docstring.

    Args:
        name: the tensor's name exactly as the checkpoint spells it (``module.`` prefix included):
            the name seeds the generator, so a renamed tensor gets other values.
        shape: its shape.
        seed: the fixture's seed (``manifest.json``'s ``seed``).
    Returns:
        float32 array of ``shape`` (int64 zeros for ``num_batches_tracked``).
    """
    shape = tuple(int(s) for s in shape)
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    noise = np.random.default_rng([seed, zlib.crc32(name.encode())]).standard_normal(shape, dtype=np.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = 0.5 + 0.5 * np.abs(noise)
    elif leaf == "running_mean":
        value = 0.1 * noise
    elif leaf == "bias":
        value = 0.05 * noise
    elif len(shape) == 1:  # BatchNorm / LayerNorm scale
        value = 1.0 + 0.1 * noise
    elif "pos_embed" in name:
        value = 0.02 * noise
    else:
        value = noise / np.sqrt(np.prod(shape[1:]))
    return value.astype(np.float32)


def state_dict_from_manifest(manifest: Mapping[str, Sequence[int]], seed: int) -> dict[str, np.ndarray]:
    """``{name: array}`` for every entry of a ``{name: shape}`` manifest, in the manifest's order."""
    return {name: weight_for(name, shape, seed) for name, shape in manifest.items()}


def apply_bn_stats(state: Mapping[str, np.ndarray], bn_stats: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``state`` with BatchNorm running statistics replaced by calibrated ones.

    Every statistic must name a ``running_mean`` / ``running_var`` the state holds, with its shape:
    a statistics file of another variant (W48 statistics on a W32 checkpoint) is refused, naming
    the first tensor that does not fit, instead of being half applied.
    """
    out = dict(state)
    for name, value in bn_stats.items():
        if name.rsplit(".", 1)[-1] not in ("running_mean", "running_var"):
            raise StandInError(f"BatchNorm statistics hold {name!r}, which is not a running_mean/running_var")
        if name not in out:
            raise StandInError(f"BatchNorm statistics name {name!r}, which the checkpoint does not have")
        if tuple(np.shape(value)) != tuple(np.shape(out[name])):
            raise StandInError(f"BatchNorm statistics {name!r} have shape {tuple(np.shape(value))}, "
                               f"the checkpoint's is {tuple(np.shape(out[name]))}")
        out[name] = np.asarray(value, dtype=np.float32)
    return out


def official_hrnet_from_authors(authors: Mapping[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The official HRNet file (``pose_hrnet_w*_256x192.pth``) the authors' frozen backbone came from.

    Their ``module.backbone.*`` tensors under the official names (the prefix dropped), plus the
    heatmap layer their model drops, ``final_layer.weight`` ``(17, C_0, 1, 1)`` and
    ``final_layer.bias`` ``(17,)``, drawn by the rule under those two names.
    """
    hrnet = {name[len(BACKBONE_PREFIX):]: value for name, value in authors.items() if name.startswith(BACKBONE_PREFIX)}
    probe = "stage4.0.branches.0.0.conv1.weight"  # the highest-resolution branch: C_0 channels
    if probe not in hrnet:
        raise StandInError(f"the authors' checkpoint has no {BACKBONE_PREFIX}{probe}: not an HRNet backbone")
    channels = int(hrnet[probe].shape[0])
    hrnet["final_layer.weight"] = weight_for("final_layer.weight", (COCO_JOINTS, channels, 1, 1), seed)
    hrnet["final_layer.bias"] = weight_for("final_layer.bias", (COCO_JOINTS,), seed)
    return hrnet


def read_manifest(fixture_dir: Path) -> dict:
    """The fixture folder's ``manifest.json``; a missing or broken file is one line naming it."""
    path = Path(fixture_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise StandInError(f"{path}: no manifest (not a parity fixture folder)") from error
    except (OSError, ValueError) as error:
        raise StandInError(f"{path}: unreadable manifest ({type(error).__name__}: {error})") from error
    if not isinstance(manifest, dict) or "seed" not in manifest or not isinstance(manifest.get("variants"), dict):
        raise StandInError(f"{path}: not a parity manifest (needs 'seed' and 'variants')")
    return manifest


def stand_in_checkpoint(fixture_dir: Path, variant: str, *, prefix: str = "") -> dict[str, torch.Tensor]:
    """The authors' checkpoint of one fixture variant as their code holds it in memory: the state
    dict (``module.`` names, calibrated BatchNorm statistics), as torch tensors.

    How the authors *save* it differs by variant (Human3.6M: ``{'model': state_dict}``, 3DHP: the
    bare state dict); wrapping it is the caller's business. ``prefix`` keeps only the tensors whose
    names start with it (``"module.volume_net."``: the lifter alone, without drawing their HRNet).
    """
    fixture_dir = Path(fixture_dir)
    manifest = read_manifest(fixture_dir)
    if variant not in manifest["variants"]:
        raise StandInError(f"{fixture_dir / 'manifest.json'}: no variant {variant!r}; "
                           f"it has {sorted(manifest['variants'])}")
    shapes = {name: shape for name, shape in manifest["variants"][variant]["authors_checkpoint"].items()
              if name.startswith(prefix)}
    state = state_dict_from_manifest(shapes, int(manifest["seed"]))
    if any(name.endswith("running_mean") for name in state):  # a BatchNorm: the calibrated statistics are part of it
        stats_path = fixture_dir / f"{variant}_bn_stats.npz"
        if not stats_path.is_file():
            raise StandInError(f"{stats_path}: missing; the {variant} checkpoint's BatchNorm statistics are calibrated "
                               "ones, not the rule's")
        with np.load(stats_path) as stats:
            state = apply_bn_stats(state, {name: stats[name] for name in stats.files if name.startswith(prefix)})
    # np.array, not ascontiguousarray: a 0-d num_batches_tracked must stay 0-d, as in a real checkpoint
    return {name: torch.from_numpy(np.array(value)) for name, value in state.items()}
