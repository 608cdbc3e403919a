"""`capf cache`: list, verify, convert stores and add their joint features (registered on `pipeline.cli.main`)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.options import CapfGroup, cache_dir_option


@click.group(cls=CapfGroup)
def cache() -> None:
    """Inspect and check feature stores."""


@cache.command("ls")
@cache_dir_option
def cache_ls(cache_dir: Path) -> None:
    """List stores: key, name, frames, levels, size on disk, complete, flip (feat_flip maps: yes, k/n shards, no)."""
    from cache.listing import list_stores

    rows = list_stores(cache_dir)
    if not rows:
        click.echo(f"no stores in {cache_dir}")
        return
    click.echo(f"{'key':12}  {'frames':>7}  {'size':>9}  {'complete':8}  {'flip':5}  {'levels':24}  name")
    for row in rows:
        size = f"{row.size_bytes / 2**20:.1f} MiB"
        click.echo(f"{row.key:12}  {row.frames:>7}  {size:>9}  {str(row.complete):8}  {row.flip:5}  {row.levels:24}  "
                   f"{row.name}"
                   + (f"  ({row.note})" if row.note else ""))


@cache.command("verify")
@click.argument("store", type=click.Path(path_type=Path))
def cache_verify(store: Path) -> None:
    """Read every chunk of STORE; crc32c checksums catch corrupt bytes. Exit 1 on any problem."""
    from cache.verify import verify_store

    report = verify_store(store)
    for error in report.errors:
        click.echo(error, err=True)
    if not report.complete:
        click.echo(f"{store}: incomplete store", err=True)
    if not report.ok:
        raise click.ClickException(f"{store}: {len(report.errors)} bad chunk(s) of {report.chunks_read + len(report.errors)}")
    click.echo(f"{store}: ok ({report.chunks_read} chunks verified; flip features: {report.flip})")


@cache.command("joint-feats")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--convention", type=click.Choice(["mmpose", "authors"]), default="mmpose",
              help="The lifters' ref_convention the samples must match.")
@click.option("--overwrite", is_flag=True, help="Recompute even if the store has them.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def cache_joint_feats(store: Path, convention: str, overwrite: bool, quiet: bool) -> None:
    """Add joint_feat/<level> to STORE: its maps sampled at the lifter's joints (no detector run)."""
    from cache.pass_lock import exclusive_pass
    from stages.lift.joint_feats import write_joint_feats

    with exclusive_pass(store, "joint_feat"):  # never beside an extraction's own joint-feature pass
        click.echo(write_joint_feats(store, convention=convention, overwrite=overwrite, progress=not quiet).summary())


@cache.command("convert")
@click.argument("store", type=click.Path(path_type=Path))
@click.option("--dtype", "feature_dtype", type=click.Choice(["int8", "float16"]), default="int8",
              help="Stored feature type of the new store.")
@click.option("--compression", type=click.Choice(["none", "blosc-zstd"]), default=None,
              help="Compression of the new store (default: the source's).")
@cache_dir_option
def cache_convert(store: Path, feature_dtype: str, compression: str | None, cache_dir: Path) -> None:
    """Re-encode a complete fp16 STORE (e.g. as int8) without re-running the detector."""
    from cache.convert import convert_store

    click.echo(f"written: {convert_store(store, cache_dir, feature_dtype=feature_dtype, compression=compression)}")
