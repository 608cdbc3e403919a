"""`capf import` and `capf check-parity`: the authors' released checkpoints in CAPF (stages.authors)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.options import CapfCommand


def _one_line(error: Exception) -> click.ClickException:
    return click.ClickException(str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__)


@click.command("import", cls=CapfCommand)
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="New (or empty) folder for detector.pth, lifter.pth + lift_config.py, import.json.")
@click.option("--config", "extract_config", type=click.Path(path_type=Path), default=None,
              help="Extract config the detector must load into (default: the one the recognised file belongs with).")
def import_command(checkpoint: Path, out: Path, extract_config: Path | None) -> None:
    """Convert a released checkpoint (the authors' CA-PF H36M/3DHP file or the official HRNet file),
    recognised from its keys, into CAPF's detector and lifter files."""
    from stages.authors.importer import ImportRefused, ImportRequest, import_checkpoint
    from stages.authors.recognise import RecogniseError

    try:
        result = import_checkpoint(ImportRequest(checkpoint, out, extract_config))
    except (ImportRefused, RecogniseError) as error:
        raise _one_line(error) from error
    click.echo(result.summary())


@click.command("check-parity", cls=CapfCommand)
@click.argument("fixture_dir", type=click.Path(path_type=Path))
@click.option("--keep", type=click.Path(path_type=Path), default=None,
              help="Keep the rebuilt and imported files here (<keep>/<variant>/{capf,hrnet}/), e.g. for `capf infer`.")
@click.option("--quiet", is_flag=True, help="Only the table.")
def check_parity_command(fixture_dir: Path, keep: Path | None, quiet: bool) -> None:
    """Rebuild the authors' checkpoints of a parity fixture, import them, run CAPF's detector and lifter
    on the fixture's crops and compare with what the authors' code computed (exit 1 above 1e-3)."""
    from stages.authors.importer import ImportRefused
    from stages.authors.parity import check_parity
    from stages.authors.stand_in_weights import StandInError

    def progress(message: str) -> None:
        if not quiet:
            click.echo(message, err=True)

    try:
        report = check_parity(fixture_dir, keep=keep, progress=progress)
    except (StandInError, ImportRefused) as error:
        raise _one_line(error) from error
    click.echo(report.table())
    if not report.passed:
        sys.exit(1)
