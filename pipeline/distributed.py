"""Rank and world size from torchrun's environment (1 process when not launched by torchrun)."""

from __future__ import annotations

import os


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
