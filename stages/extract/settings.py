"""A complete, validated extract config: every section from configs/extract/defaults.py."""

from __future__ import annotations

from stages.settings import ALL_SECTIONS, ConfigError, complete_section, load_defaults, refuse_unknown

DEFAULTS_FILE = "configs/extract/defaults.py"


def dataset_settings(dataset: dict | None) -> dict:
    """A dataset section completed from the defaults of its ``type`` (each frame source has its own
    keys); an unknown type is left for the source registry to refuse with the known list."""
    dataset = dict(dataset or {})
    kind = dataset.get("type")
    defaults = load_defaults(DEFAULTS_FILE)["datasets"]
    if kind in defaults:
        dataset = complete_section(dataset, defaults[kind], f"dataset (type={kind!r}).")
    return dataset


def extract_settings(cfg: dict) -> dict:
    """``cfg`` with its stage-one sections completed from the defaults (other sections untouched)."""
    defaults = load_defaults(DEFAULTS_FILE)
    refuse_unknown(cfg, ALL_SECTIONS, "")
    out = dict(cfg)
    for section in ("detector", "kp2d", "cache", "runtime"):
        out[section] = complete_section(cfg.get(section), defaults[section], f"{section}.")
    out["dataset"] = dataset_settings(cfg.get("dataset"))
    if not out["detector"]["config"]:
        raise ConfigError("detector.config is not set: name an mmpose top-down config")
    if out["kp2d"]["source"] == "external" and not out["kp2d"]["file"]:
        raise ConfigError("kp2d.source='external' needs kp2d.file (relative to the data root)")
    return out
