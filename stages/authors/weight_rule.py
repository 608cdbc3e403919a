"""Stand-in weights for the authors' checkpoints, rebuilt from a name-and-shape manifest.

No released checkpoint can be downloaded where CAPF is tested, so parity fixtures ship what the
authors' code computes with deterministic stand-in weights: every tensor is a function of (seed,
the name as the checkpoint spells it, shape) only. This is CAPF's own implementation of that rule:

    rng = numpy.random.default_rng([seed, zlib.crc32(name)]);  n = rng.standard_normal(shape, float32)
    ...num_batches_tracked -> 0 (int64);  running_var -> 0.5 + 0.5|n|;  running_mean -> 0.1 n;
    bias -> 0.05 n;  other 1-D -> 1 + 0.1 n;  'pos_embed' in name -> 0.02 n;  else n / sqrt(fan_in)

after which every BatchNorm's running statistics are replaced by the fixture's calibrated ones
(``<variant>_bn_stats.npz``, keyed by the authors' names) so activations stay O(1) through HRNet.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

AUTHORS_BACKBONE_PREFIX = "module.backbone."
HEATMAP_LAYER = ("final_layer.weight", "final_layer.bias")
COCO_JOINTS = 17


def stand_in_tensor(name: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The value of one tensor under the rule (module docstring): BatchNorm statistics valid,
    norm scales near 1, biases small, matrices at 1/sqrt(fan_in) so deep nets stay O(1)."""
    shape = tuple(int(d) for d in shape)
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
    elif len(shape) == 1:
        value = 1.0 + 0.1 * noise
    elif "pos_embed" in name:
        value = 0.02 * noise
    else:
        value = noise / np.sqrt(float(np.prod(shape[1:])))
    return value.astype(np.float32)


def authors_state_dict(manifest: Mapping[str, list[int]], seed: int,
                       bn_stats: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """``{name: array}`` of the authors' checkpoint: the rule for every manifest entry, then the
    calibrated BatchNorm statistics where given (a name the manifest lacks is an error: the
    statistics belong to another checkpoint)."""
    state = {name: stand_in_tensor(name, tuple(shape), seed) for name, shape in manifest.items()}
    for name, value in (bn_stats or {}).items():
        if name not in state:
            raise KeyError(f"bn statistics name {name!r} is not in the checkpoint's manifest")
        if tuple(value.shape) != state[name].shape:
            raise ValueError(f"bn statistics {name!r} have shape {tuple(value.shape)}, the manifest "
                             f"{state[name].shape}")
        state[name] = np.asarray(value, dtype=np.float32)
    return state


def official_hrnet_state_dict(authors: Mapping[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """The official HRNet file the authors' frozen backbone was loaded from: their backbone tensors
    under the official names (no ``module.backbone.``) plus the COCO heatmap layer they drop
    (``final_layer.weight`` (17, C0, 1, 1), ``final_layer.bias`` (17,)) from the rule."""
    hrnet = {k[len(AUTHORS_BACKBONE_PREFIX):]: v for k, v in authors.items() if k.startswith(AUTHORS_BACKBONE_PREFIX)}
    c0 = hrnet["stage4.0.branches.0.0.conv1.weight"].shape[0]
    hrnet[HEATMAP_LAYER[0]] = stand_in_tensor(HEATMAP_LAYER[0], (COCO_JOINTS, c0, 1, 1), seed)
    hrnet[HEATMAP_LAYER[1]] = stand_in_tensor(HEATMAP_LAYER[1], (COCO_JOINTS,), seed)
    return hrnet
