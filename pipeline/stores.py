"""Which feature store a stage-two command reads, in order:

1. ``--store PATH`` names it;
2. ``--data-root`` (with the detector ``--checkpoint`` or ``--random-init``) computes the config's
   content key (``stages.extract.plan``: the frame index and the checkpoint's remembered sha256, no
   detector) and finds the store in the cache dir; only a miss runs extraction (under torchrun all
   ranks extract it, sharded);
3. the store a run or checkpoint recorded (``eval``, ``train --resume``).
"""

from __future__ import annotations

from pathlib import Path

import click

from stages.distributed import Ranks


def resolve_store(cfg: dict, *, store: Path | None, data_root: Path | None, cache_dir: Path,
                  checkpoint: Path | None, random_init: bool, recorded: Path | None = None,
                  quiet: bool = False) -> Path:
    if store is not None:
        return Path(store)
    if data_root is not None:
        if "detector" not in cfg or "dataset" not in cfg:
            raise click.ClickException("the config has no extract sections (detector, dataset): pass --store PATH")
        if checkpoint is None and not random_init:
            raise click.ClickException("--data-root needs the detector --checkpoint (or --random-init) "
                                       "to compute the cache key; or pass --store PATH")
        from stages.extract.plan import ExtractRequest, plan_extraction

        main = Ranks.current().main
        request = ExtractRequest(config=cfg, data_root=Path(data_root), cache_dir=Path(cache_dir),
                                 checkpoint=checkpoint, random_init=random_init, progress=not quiet and main)
        plan = plan_extraction(request)
        found = plan.complete_store()
        if found is not None:
            if main:
                click.echo(f"cache hit: {found} (no detector work)", err=True)
            return found
        from stages.extract.runner import run_extraction

        result = run_extraction(request, plan)
        if main:
            click.echo(result.summary(), err=True)  # one line, also with --quiet: says the detector ran
        if not result.complete:
            raise click.ClickException(f"{result.path}: extraction did not finish; re-run to resume it")
        return result.path
    if recorded is not None:
        return Path(recorded)
    raise click.ClickException("no features: pass --store PATH, or --data-root with --checkpoint/--random-init")
