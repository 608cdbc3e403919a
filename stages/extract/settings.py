"""A complete, validated extract config: every section from configs/extract/defaults.py."""

from __future__ import annotations

from stages.settings import ALL_SECTIONS, ConfigError, complete_section, load_defaults, refuse_unknown

DEFAULTS_FILE = "configs/extract/defaults.py"
KP2D_SOURCES = ("detector", "external", "ground_truth")


def dataset_settings(dataset: dict | None) -> dict:
    """A dataset section completed from the defaults of its ``type`` (each frame source has its own
    keys); an unknown type is left for the source registry to refuse with the known list."""
    dataset = dict(dataset or {})
    kind = dataset.get("type")
    defaults = load_defaults(DEFAULTS_FILE)["datasets"]
    if kind not in defaults:
        return dataset
    entry, where = defaults[kind], f"dataset (type={kind!r})."
    if "type" not in entry:  # one entry per layout (mpi_inf_3dhp); the first is the default
        layout = dataset.get("layout", next(iter(entry)))
        if layout not in entry:
            raise ConfigError(f"dataset.layout must be one of {list(entry)} for type {kind!r}, got {layout!r}")
        entry, where = entry[layout], f"dataset (type={kind!r}, layout={layout!r})."
    return complete_section(dataset, entry, where)


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
    if out["kp2d"]["source"] not in KP2D_SOURCES:
        raise ConfigError(f"kp2d.source must be one of {KP2D_SOURCES}, got {out['kp2d']['source']!r}")
    if out["kp2d"]["source"] == "external" and not out["kp2d"]["file"]:
        raise ConfigError("kp2d.source='external' needs kp2d.file (relative to the data root)")
    return out
