"""Loading mmengine-style Python configs (with `_base_` inheritance) into plain dicts."""

from __future__ import annotations

import os
from pathlib import Path

import click


def default_cache_dir() -> Path:
    """Feature stores live outside the source tree: $CAPF_CACHE_DIR, else ~/.cache/capf/features."""
    env = os.environ.get("CAPF_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "capf" / "features"


def load_config(path: str | Path) -> dict:
    """Parse a config file; unknown or broken files become a one-line ClickException naming the file."""
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise click.ClickException(f"{path}: config not found")
    try:
        return Config.fromfile(str(path)).to_dict()
    except Exception as error:
        raise click.ClickException(f"{path}: cannot parse config ({type(error).__name__}: {error})") from error
