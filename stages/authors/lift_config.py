"""The lift config of an imported authors' lifter: CAPF's model and evaluation set to compute theirs.

The weights of a released checkpoint say the model's shape (:class:`LifterSettings`); the rest of
what the authors' code computes is set here, every "parity" key of ``configs/lift/capf_base.py``
at the authors' value:

* ``model.ref_convention='authors'``, ``model.sampling_padding='zeros'``,
  ``model.deformable_norm_eps=1e-5`` (what their forward pass computes);
* ``train.amp=False`` (they run fp32 throughout), and their released Human3.6M optimiser
  (lr 6.4e-4 on every parameter, weight decay 0.1), for fine-tuning from the import (their 3DHP
  script trains otherwise; its recipe is not reproduced);
* Human3.6M: ``eval.reroot=False`` (their MPJPE on the raw output) and ``eval.flip_test=True``
  (their ``train.py`` averages the mirrored crop's prediction); MPI-INF-3DHP:
  ``eval.reroot='zero_root'`` (their ``run_3dhp.py`` sets the predicted root to zero and leaves the
  other joints) and no flip test (its flip path needs a mirrored input their 3DHP loader never
  builds, so it cannot have produced their numbers);
* the data split of the dataset the model was trained on (Human3.6M S9, S11; 3DHP TS1-TS6).

The config sets every key of the model, train, eval and data sections explicitly (not through a
``_base_`` of CAPF's defaults), so an imported checkpoint keeps its meaning when CAPF's defaults
move; ``detector_levels`` states the authors' HRNet levels, so a store of another backbone (a W32
store under a W48 lifter) is refused before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stages.authors.lifter_keys import LifterSettings
from stages.lift.settings import BASE_FILE, GEOMETRY_KEYS
from stages.settings import load_defaults

SPLITS = {  # the joint order a lifter works in says which dataset it was trained on
    "h36m17": dict(train_subjects=["S1", "S5", "S6", "S7", "S8"], test_subjects=["S9", "S11"]),
    "mpi3dhp17": dict(train_subjects=[f"S{i}" for i in range(1, 9)], test_subjects=[f"TS{i}" for i in range(1, 7)]),
}
AUTHORS_TRAIN = dict(lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, lr_decay=0.99, amp=False)
AUTHORS_EVAL = {  # per joint order, i.e. per dataset the lifter was trained on
    "h36m17": dict(flip_test=True, reroot=False),
    "mpi3dhp17": dict(flip_test=False, reroot="zero_root"),
}
SECTION_ORDER = ("model", "detector_levels", "train", "eval", "data")
NOTES = {  # comments beside the keys where the authors' code departs from CAPF's defaults
    "model.ref_convention": "parity: their x / 96 - 1, y / 128 - 1 on every level",
    "model.sampling_padding": "parity: their initial samples use grid_sample's zero padding",
    "model.deformable_norm_eps": "parity: their deformable layers' nn.LayerNorm default",
    "train.amp": "parity: they run fp32 throughout",
    "eval.reroot": "parity: their evaluation's root handling (H36M: the raw output; 3DHP: the root set to zero)",
    "eval.flip_test": "parity: their H36M evaluation averages the mirrored crop's prediction; their 3DHP one does not",
}


def lift_config_sections(settings: LifterSettings) -> dict[str, dict[str, Any]]:
    """The config as ``{section: {key: value}}``: model, detector_levels, train, eval, data."""
    defaults = load_defaults(BASE_FILE)
    model = {key: value for key, value in settings.model_kwargs().items() if key not in GEOMETRY_KEYS}
    model = dict(type="ContextAwarePoseFormer", levels=list(range(len(settings.level_channels))), **model)
    detector_levels = dict(input_size_wh=list(settings.input_size_wh), strides=list(settings.level_strides),
                           channels=list(settings.level_channels))
    data = {**defaults["data"], **SPLITS[settings.joint_order]}
    return dict(model=model, detector_levels=detector_levels,
                train={**defaults["train"], **AUTHORS_TRAIN},
                eval={**defaults["eval"], **AUTHORS_EVAL[settings.joint_order]}, data=data)


def _literal(value: Any) -> str:
    """A Python literal mmengine's config parser reads back as ``value`` (tuples become lists)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "dict(" + ", ".join(f"{k}={_literal(v)}" for k, v in value.items()) + ")"
    return repr(value)


def lift_config_text(settings: LifterSettings, *, header: Sequence[str] = (), bases: Sequence[str] = (),
                     sections: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The config file's text (mmengine-style Python; ``capf eval`` / ``capf infer`` read it).

    Args:
        settings: what the converted weights imply (:func:`stages.authors.lifter_keys.convert_lifter`).
        header: comment lines at the top (where the weights came from).
        bases: ``_base_`` entries, e.g. the extract config whose store the lifter reads (relative to
            the file's folder, or absolute); the sections written here override them.
        sections: more sections, or keys over the lift sections (a ``detector`` section naming the
            imported HRNet, for ``capf infer``).
    """
    config = lift_config_sections(settings)
    for name, keys in (sections or {}).items():
        config[name] = {**config.get(name, {}), **dict(keys)}
    lines = [f"# {line}" if line else "#" for line in header]
    if bases:
        lines.append(f"_base_ = {_literal(list(bases))}")
    names = [n for n in SECTION_ORDER if n in config] + [n for n in config if n not in SECTION_ORDER]
    for name in names:
        lines.append(f"{name} = dict(")
        for key, value in config[name].items():
            note = NOTES.get(f"{name}.{key}")
            lines.append(f"    {key}={_literal(value)}," + (f"  # {note}" if note else ""))
        lines.append(")")
    return "\n".join(lines) + "\n"
