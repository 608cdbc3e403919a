"""A complete, validated lift config: the one place where stage two meets its defaults.

Every training, evaluation and model setting comes from configs/lift/capf_base.py (the file that
documents them) unless the config overrides it; a key the base does not know is refused with the
nearest known key. So a config that does not inherit the base still trains the base's recipe, and
a typo never silently trains something else.
"""

from __future__ import annotations

import inspect

from stages.settings import (ALL_SECTIONS, STAGE_ONE_SECTIONS, ConfigError, complete_section, load_defaults,
                             refuse_unknown)

BASE_FILE = "configs/lift/capf_base.py"
GEOMETRY_KEYS = ("level_channels", "level_strides", "input_size_wh")  # model keys that restate the store's
# Keys CAPF once had and no longer reads. A run dir's config.py records every key of its day, so a
# checkpoint trained then must still load: a retired key is dropped (it changes nothing now), while
# any other unknown key stays an error.
RETIRED_KEYS = {
    "train": ("window_chunk",),  # temporal batches were chunks of consecutive windows; windows now shuffle freely
}


def _model_keys(base_model: dict, model_type: str) -> set[str]:
    """Every argument of the model class ``model_type`` names (all are settable), ``type``,
    ``levels`` and the geometry keys; the base's own keys too for the base's class."""
    from stages.lift.model import lifter_classes

    classes = lifter_classes()
    if model_type not in classes:
        raise ConfigError(f"model.type={model_type!r} is not a lifter; known: {sorted(classes)}")
    params = inspect.signature(classes[model_type].__init__).parameters
    own = set(base_model) if model_type == base_model.get("type") else {"type", "levels"}
    return own | {name for name in params if name != "self"} | set(GEOMETRY_KEYS)


def lift_settings(cfg: dict) -> dict:
    """``cfg`` with model/train/eval/data completed from the base; unknown sections and keys refused.

    Extract sections a lift config carries (its store's) are completed from stage one's defaults.
    ``detector_levels`` is checked for unknown keys but not defaulted: it states the shapes a
    config expects of its store, and a config without it takes the store's."""
    base = load_defaults(BASE_FILE)
    refuse_unknown(cfg, ALL_SECTIONS, "")
    out = dict(cfg)
    model = cfg.get("model") or {}
    keys = _model_keys(base["model"], model.get("type", base["model"]["type"]))
    refuse_unknown(model, keys, "model.")
    # another lifter class (the temporal one) takes the base's defaults for the arguments it shares
    out["model"] = {**{k: v for k, v in base["model"].items() if k in keys}, **model}
    for section in ("train", "eval", "data"):
        given = {k: v for k, v in (cfg.get(section) or {}).items() if k not in RETIRED_KEYS.get(section, ())}
        out[section] = complete_section(given, base[section], f"{section}.")
    if cfg.get("detector_levels"):
        refuse_unknown(cfg["detector_levels"], base["detector_levels"], "detector_levels.")
    if any(section in cfg for section in STAGE_ONE_SECTIONS):  # the store's extract sections, checked alike
        from stages.extract.settings import extract_settings

        out.update({k: v for k, v in extract_settings(cfg).items() if k in STAGE_ONE_SECTIONS})
    return out
