"""Completing a config from its defaults file, refusing keys that are not known.

Defaults live in configs/ only (configs/lift/capf_base.py for stage two,
configs/extract/defaults.py for stage one): code asks ``apply_defaults`` for a complete section
instead of carrying a second copy of any default. A key that the defaults do not know is a typo or
a wish, and silently ignoring it would train or extract something else than asked, so it is an
error naming the key and the nearest known one.
"""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Iterable
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STAGE_ONE_SECTIONS = ("detector", "dataset", "kp2d", "cache", "runtime")
STAGE_TWO_SECTIONS = ("model", "detector_levels", "train", "eval", "data")
ALL_SECTIONS = STAGE_ONE_SECTIONS + STAGE_TWO_SECTIONS  # a lift config carries its store's extract sections


class ConfigError(ValueError):
    """A config key or section that is not known; the message names it and the nearest known one."""


@functools.lru_cache(maxsize=None)
def _load(relative: str) -> dict:
    from mmengine.config import Config

    return Config.fromfile(str(PROJECT_ROOT / relative)).to_dict()


def load_defaults(relative: str) -> dict:
    """The defaults file ``relative`` to the project root as a plain dict (a fresh copy)."""
    return copy.deepcopy(_load(relative))


def nearest(name: str, known: Iterable[str]) -> str:
    """The known name most like ``name`` (difflib's ratio), for "did you mean" messages."""
    known = sorted(known)
    if not known:
        return ""
    return max(known, key=lambda k: difflib.SequenceMatcher(None, name, k).ratio())


def refuse_unknown(given: Iterable[str], known: Iterable[str], where: str) -> None:
    """Raise ConfigError for the first name of ``given`` that is not in ``known``."""
    known = set(known)
    for name in sorted(set(given) - known):
        raise ConfigError(f"unknown config key {where}{name!r}; the nearest known key is "
                          f"{where}{nearest(name, known)!r} (defaults and their meaning: configs/)")


def complete_section(given: dict | None, defaults: dict, where: str) -> dict:
    """``defaults`` overridden by ``given``; a key of ``given`` that ``defaults`` lacks is an error."""
    given = dict(given or {})
    refuse_unknown(given, defaults, where)
    return {**copy.deepcopy(defaults), **given}
