"""A complete, validated lift config: the one place where stage two meets its defaults.

Every training, evaluation and model setting comes from configs/lift/capf_base.py (the file that
documents them) unless the config overrides it; a key the base does not know is refused with the
nearest known key. So a config that does not inherit the base still trains the base's recipe, and
a typo never silently trains something else.
"""

from __future__ import annotations

import inspect

from stages.settings import ALL_SECTIONS, STAGE_ONE_SECTIONS, complete_section, load_defaults, refuse_unknown

BASE_FILE = "configs/lift/capf_base.py"
GEOMETRY_KEYS = ("level_channels", "level_strides", "input_size_wh")  # model keys that restate the store's


def _model_keys(base_model: dict) -> set[str]:
    """The base's model keys plus every ContextAwarePoseFormer argument (all are settable)."""
    from stages.lift.model import ContextAwarePoseFormer

    params = inspect.signature(ContextAwarePoseFormer.__init__).parameters
    return set(base_model) | {name for name in params if name != "self"} | set(GEOMETRY_KEYS)


def lift_settings(cfg: dict) -> dict:
    """``cfg`` with model/train/eval/data completed from the base; unknown sections and keys refused.

    Extract sections a lift config carries (its store's) are completed from stage one's defaults.
    ``detector_levels`` is checked for unknown keys but not defaulted: it states the shapes a
    config expects of its store, and a config without it takes the store's."""
    base = load_defaults(BASE_FILE)
    refuse_unknown(cfg, ALL_SECTIONS, "")
    out = dict(cfg)
    refuse_unknown(cfg.get("model") or {}, _model_keys(base["model"]), "model.")
    out["model"] = {**base["model"], **(cfg.get("model") or {})}
    for section in ("train", "eval", "data"):
        out[section] = complete_section(cfg.get(section), base[section], f"{section}.")
    if cfg.get("detector_levels"):
        refuse_unknown(cfg["detector_levels"], base["detector_levels"], "detector_levels.")
    if any(section in cfg for section in STAGE_ONE_SECTIONS):  # the store's extract sections, checked alike
        from stages.extract.settings import extract_settings

        out.update({k: v for k, v in extract_settings(cfg).items() if k in STAGE_ONE_SECTIONS})
    return out
