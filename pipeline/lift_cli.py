"""Stage-two verbs of the `capf` CLI: `train`, `eval`, `flops` (registered on `pipeline.cli.main`).

Where the features come from, in order: `--store PATH` names a store directly; otherwise
`--data-root` (with the detector `--checkpoint` or `--random-init`) computes the config's cache key
through stage one (`run_extraction`: a cache hit does no detector work, a miss extracts); `eval`
and `train --resume` can also fall back to the store recorded in the run.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import click

from pipeline.config import default_cache_dir, load_config


def _user_errors(func):
    """Bad input (store, config, resume target) becomes one ClickException line, also when these
    commands run on their own rather than under `capf`'s group."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from cache.store import StoreError
        from pipeline.errors import user_message

        try:
            return func(*args, **kwargs)
        except StoreError as error:
            raise click.ClickException(user_message(error)) from error

    return wrapper


def _config_name(config_path: Path) -> str:
    return Path(config_path).stem


def resolve_store(cfg: dict, *, store: Path | None, data_root: Path | None, cache_dir: Path,
                  checkpoint: Path | None, random_init: bool, recorded: Path | None = None,
                  quiet: bool = False, rank: int = 0, world_size: int = 1) -> Path:
    """The feature store a command reads (see the module docstring). Under torchrun (``rank`` of
    ``world_size``, inside the process group) a missing store is extracted by all ranks, sharded."""
    if store is not None:
        return Path(store)
    if data_root is not None:
        if "detector" not in cfg or "dataset" not in cfg:
            raise click.ClickException("the config has no extract sections (detector, dataset): pass --store PATH")
        if checkpoint is None and not random_init:
            raise click.ClickException("--data-root needs the detector --checkpoint (or --random-init) "
                                       "to compute the cache key; or pass --store PATH")
        from stages.extract.runner import ExtractRequest, run_extraction

        result = run_extraction(ExtractRequest(config=cfg, data_root=Path(data_root), cache_dir=Path(cache_dir),
                                               checkpoint=checkpoint, random_init=random_init,
                                               progress=not quiet and rank == 0, rank=rank, world_size=world_size))
        if rank == 0:
            click.echo(result.summary(), err=True)  # one line, also with --quiet: says whether the detector ran
        if not result.complete:
            raise click.ClickException(f"{result.path}: extraction did not finish; re-run to resume it")
        return result.path
    if recorded is not None:
        return Path(recorded)
    raise click.ClickException("no features: pass --store PATH, or --data-root with --checkpoint/--random-init")


store_options = [
    click.option("--store", type=click.Path(path_type=Path), default=None,
                 help="Feature store to read (skips the cache-key computation)."),
    click.option("--data-root", type=click.Path(path_type=Path), default=None,
                 help="Dataset root: find (or extract) the config's store in --cache-dir."),
    click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
                 help="Detector checkpoint (.pth); part of the cache key."),
    click.option("--random-init", is_flag=True, help="Detector without weights (smoke runs; its own cache key)."),
    click.option("--cache-dir", type=click.Path(path_type=Path), default=default_cache_dir,
                 help="Where feature stores live ($CAPF_CACHE_DIR)."),
]


def _with_store_options(func):
    for option in reversed(store_options):
        func = option(func)
    return func


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
              help="Lift config (configs/capf/*.py, configs/ablations/*.py).")
@_with_store_options
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("work_dirs"),
              help="Runs go to WORK_DIR/<config stem>/<timestamp> (a new one per run).")
@click.option("--resume", type=click.Path(path_type=Path), default=None,
              help="Continue a run exactly: its run dir (newest checkpoint) or a checkpoint file.")
@click.option("--max-iters", type=int, default=None, help="Stop after this many optimizer steps (smoke runs).")
@click.option("--epochs", type=int, default=None, help="Override train.epochs.")
@click.option("--device", default="auto", help="cpu, cuda, cuda:1 ... (auto: cuda if available).")
@click.option("--workers", type=int, default=None, help="Loader processes (default: train.workers).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@_user_errors
def train(config_path, store, data_root, checkpoint, random_init, cache_dir, work_dir, resume, max_iters, epochs,
          device, workers, quiet):
    """Stage two: train the lifter on cached features; writes checkpoints, logs and the final report.

    Under torchrun (`make train NPROC=N`) the ranks train one model with DistributedDataParallel
    (gloo on CPU, NCCL on GPUs: one GPU per rank); rank 0 writes the run and prints the summary."""
    from stages.lift.ranks import DistributedSetupError
    from stages.lift.train import TrainRequest, find_resume_checkpoint, train as run_training

    from pipeline.distributed import process_group, rank_and_world

    cfg = load_config(config_path)
    recorded = None
    if resume is not None:
        run_dir, _ = find_resume_checkpoint(resume)
        run_file = run_dir / "run.json"
        if run_file.is_file():
            recorded = json.loads(run_file.read_text())["store"]
    rank, world = rank_and_world()
    with process_group():
        store_path = resolve_store(cfg, store=store, data_root=data_root, cache_dir=cache_dir, checkpoint=checkpoint,
                                   random_init=random_init, recorded=recorded, quiet=quiet, rank=rank,
                                   world_size=world)
        try:
            result = run_training(TrainRequest(cfg=cfg, store_path=store_path, work_root=work_dir,
                                               config_name=_config_name(config_path), resume=resume,
                                               max_iters=max_iters, epochs=epochs, device=device, workers=workers,
                                               progress=not quiet))
        except DistributedSetupError as error:
            raise click.ClickException(str(error)) from error
    if rank != 0:
        return
    click.echo(f"run dir: {result.run_dir}")
    click.echo(f"epochs {result.epochs_done}, iterations {result.iterations}, last checkpoint {result.last_checkpoint.name}"
               + (f", best {result.best_checkpoint.name} (val MPJPE {result.best_val_mpjpe:.2f} mm)"
                  if result.best_checkpoint else ""))
    if result.metrics:
        click.echo(f"MPJPE {result.metrics['mpjpe']:.2f} mm, P-MPJPE {result.metrics['p_mpjpe']:.2f} mm "
                   f"({result.run_dir / 'metrics.json'})")


@click.command("eval")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="Lift config.")
@click.option("--ckpt", required=True, type=click.Path(path_type=Path), help="Lifter checkpoint (best.pth, epoch_N.pth).")
@_with_store_options
@click.option("--out-dir", type=click.Path(path_type=Path), default=None,
              help="Report folder (default: <checkpoint's run dir>/eval_<checkpoint stem>).")
@click.option("--flip-test/--no-flip-test", default=None, help="Flip-test averaging (default: eval.flip_test).")
@click.option("--device", default="auto", help="cpu, cuda, cuda:1 ... (auto: cuda if available).")
@click.option("--workers", type=int, default=None, help="Loader processes (default: train.workers).")
@click.option("--batch-size", type=int, default=None, help="Frames per batch (default: eval.batch_size).")
@click.option("--quiet", is_flag=True, help="No progress output from extraction.")
@_user_errors
def evaluate(config_path, ckpt, store, data_root, checkpoint, random_init, cache_dir, out_dir, flip_test, device,
             workers, batch_size, quiet):
    """Evaluate a lifter checkpoint on the config's test split; writes metrics.json, table.md and plots."""
    from cache.store import FeatureStore
    from stages.lift.build import build_lifter, geometry_from_store
    from stages.lift.dataset import CacheBatchDataset, select_frames
    from stages.lift.evaluate import evaluate as run_evaluation
    from stages.lift.train import (ResumeError, eval_settings, load_checkpoint_file, resolve_amp, resolve_device,
                                   train_settings)

    cfg = load_config(config_path)
    if not Path(ckpt).is_file():
        raise click.ClickException(f"{ckpt}: checkpoint not found")
    saved = load_checkpoint_file(Path(ckpt))
    meta = saved.get("meta", {})
    store_path = resolve_store(cfg, store=store, data_root=data_root, cache_dir=cache_dir, checkpoint=checkpoint,
                               random_init=random_init, recorded=meta.get("store_path"), quiet=quiet)
    feature_store = FeatureStore.open(store_path)
    if meta.get("store_key") and meta["store_key"] != feature_store.key:
        click.echo(f"warning: {ckpt} was trained on store {meta['store_key']}, evaluating on {feature_store.key}",
                   err=True)
    geometry = geometry_from_store(cfg, feature_store)
    model = build_lifter(cfg, geometry)
    try:
        model.load_state_dict(saved["state_dict"])
    except (KeyError, RuntimeError) as error:
        raise ResumeError(f"{ckpt}: weights do not fit the model of {config_path} ({error})") from error
    tcfg, ecfg = train_settings(cfg), eval_settings(cfg)
    torch_device = resolve_device(device)
    model.to(torch_device)
    frames = select_frames(feature_store, cfg.get("data", {}).get("test_subjects"))
    dataset = CacheBatchDataset(feature_store.path, frames, geometry.names, read_maps=model.context != "none",
                                in_memory=bool(tcfg["in_memory"]), reader=tcfg["reader"])
    out = Path(out_dir) if out_dir is not None else Path(ckpt).parent / f"eval_{Path(ckpt).stem}"
    dataset_type = str(cfg.get("dataset", {}).get("type") or feature_store.attrs["key_inputs"]["dataset"])
    result = run_evaluation(
        model, dataset, device=torch_device, batch_size=int(batch_size or ecfg["batch_size"]),
        workers=workers if workers is not None else tcfg["workers"],
        flip_test=bool(ecfg["flip_test"] if flip_test is None else flip_test),
        amp=resolve_amp(tcfg["amp"], torch_device), dataset_type=dataset_type, out_dir=out,
        title=_config_name(config_path),
        extra={"checkpoint": str(ckpt), "config": _config_name(config_path), "store": str(feature_store.path)})
    metrics = result.metrics
    line = f"MPJPE {metrics['mpjpe']:.2f} mm" + (f", P-MPJPE {metrics['p_mpjpe']:.2f} mm" if "p_mpjpe" in metrics else "")
    click.echo(f"{line} over {len(result.frames)} frames; report in {out}")


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {\"params\": ..., \"flops_per_frame\": ...} only.")
def flops(config_path, as_json):
    """Parameters and FLOPs per frame (2 x multiply-adds) of CONFIG's lifter, like the paper's Table 3.

    Level shapes come from the config's detector_levels (strides, channels, input size); without
    them, from probing the extract config's detector (needs mmpose)."""
    from stages.lift.build import LevelGeometry, build_lifter, geometry_from_config, requested_levels
    from stages.lift.cost import count_cost

    cfg = load_config(config_path)
    try:
        if cfg.get("detector_levels"):
            geometry = geometry_from_config(cfg)
        elif "detector" in cfg:
            from stages.extract.detector import TopdownDetector

            detector = TopdownDetector(cfg["detector"]["config"], None, random_init=True, device="cpu")
            by_name = {lv.name: lv for lv in detector.levels}
            geometry = LevelGeometry(tuple(by_name[n] for n in requested_levels(cfg.get("model", {}))),
                                     detector.input_size_wh)
        else:
            raise ValueError("the config has neither detector_levels nor a detector section")
        model = build_lifter(cfg, geometry)
    except (ValueError, KeyError) as error:
        raise click.ClickException(f"{config_path}: {error}") from error
    cost = count_cost(model, level_shapes=geometry.level_shapes())
    if as_json:
        click.echo(json.dumps({"params": cost["params"], "flops_per_frame": cost["flops_per_frame"]}))
        return
    click.echo(f"{_config_name(config_path)}: context={model.context}, levels {geometry.names}")
    click.echo(f"params          {cost['params']:,}")
    click.echo(f"FLOPs per frame {cost['flops_per_frame'] / 1e6:.1f} M")
    for name, value in cost["breakdown"].items():
        click.echo(f"  {name:22s} {value / 1e6:8.1f} M")


COMMANDS = (train, evaluate, flops)
