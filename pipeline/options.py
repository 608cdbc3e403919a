"""What every `capf` verb shares: the one bad-input handler, the store options, the cache dir.

Bad input (a store, a source, a detector, a config key, a device under torchrun) surfaces as a
library exception; ``CapfCommand`` turns each into one ``click.ClickException`` line and exit 1,
also when a command runs on its own rather than under the `capf` group (tests do that).
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.config import default_cache_dir


def _user_errors() -> tuple[type[Exception], ...]:
    """Exceptions that mean bad input, imported lazily to keep --help fast."""
    from cache.store import StoreError
    from stages.detector.topdown import DetectorError
    from stages.distributed import DistributedSetupError
    from stages.export import ExportInputError
    from stages.extract.sources import SourceError
    from stages.infer.boxes import BoxError
    from stages.infer.lifting import LifterError
    from stages.settings import ConfigError

    return (SourceError, DetectorError, StoreError, ConfigError, DistributedSetupError, BoxError, LifterError,
            ExportInputError)


def user_message(error: BaseException) -> str:
    """The one line a user sees for a bad-input error. torch re-raises an exception from a loader
    worker as the same type whose message is "Caught X in DataLoader worker process N. Original
    Traceback ... X: <message>"; the user needs only the original message (e.g. the corrupt chunk's
    array, frame and the verify command)."""
    text = str(error).strip()
    if "DataLoader worker process" not in text:
        return text
    last = text.splitlines()[-1]
    prefix = f"{type(error).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last


class CapfCommand(click.Command):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _user_errors() as error:
            raise click.ClickException(user_message(error)) from error


class CapfGroup(click.Group):
    """Commands and subgroups made with ``@group.command()`` / ``@group.group()`` report bad input alike."""

    command_class = CapfCommand
    group_class = type  # subgroups are CapfGroups too


cache_dir_option = click.option("--cache-dir", type=click.Path(path_type=Path), default=default_cache_dir,
                                help="Where feature stores live ($CAPF_CACHE_DIR).")

STORE_OPTIONS = [
    click.option("--store", type=click.Path(path_type=Path), default=None,
                 help="Feature store to read (skips the cache-key computation)."),
    click.option("--data-root", type=click.Path(path_type=Path), default=None,
                 help="Dataset root: find (or extract) the config's store in --cache-dir."),
    click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
                 help="Detector checkpoint (.pth); part of the cache key."),
    click.option("--random-init", is_flag=True, help="Detector without weights (smoke runs; its own cache key)."),
    cache_dir_option,
]


def store_options(func):
    """The options that say where a command's features come from (see ``pipeline.stores``)."""
    for option in reversed(STORE_OPTIONS):
        func = option(func)
    return func


_LIFT_MODEL_OPTIONS = [
    click.option("--ckpt", type=click.Path(path_type=Path), default=None,
                 help="CAPF lift checkpoint (best.pth of a run); default: the demo's full CA-PF (made if missing)."),
    click.option("--lift-config", type=click.Path(path_type=Path), default=None,
                 help="Lift config; default: config.py in the checkpoint's run dir."),
    click.option("--checkpoint", "detector_checkpoint", type=click.Path(path_type=Path), default=None,
                 help="2D detector checkpoint (.pth); must be the one the lifter was trained with."),
    click.option("--detector-config", default=None,
                 help="2D detector config; default: the one the lifter was trained with."),
    click.option("--random-init", is_flag=True, help="2D detector with seeded random weights (smoke runs)."),
    click.option("--person-config", type=click.Path(path_type=Path), default=None,
                 help="mmdet person detector config."),
    click.option("--person-checkpoint", type=click.Path(path_type=Path), default=None,
                 help="mmdet person detector checkpoint."),
]


def lift_model_options(function):
    """The models of `capf infer` and `capf live`: the lift checkpoint and config, the 2D detector, the
    mmdet person detector (parameters ckpt, lift_config, detector_checkpoint, detector_config,
    random_init, person_config, person_checkpoint)."""
    for option in reversed(_LIFT_MODEL_OPTIONS):
        function = option(function)
    return function
