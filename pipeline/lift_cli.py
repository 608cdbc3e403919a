"""Stage-two verbs of the `capf` CLI: `train`, `eval`, `flops` (registered on `pipeline.cli.main`).

Where the features come from: ``pipeline.stores.resolve_store``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from pipeline.config import load_config
from pipeline.options import CapfCommand, store_options
from pipeline.stores import resolve_store

config_option = click.option("--config", "config_path", required=True, type=click.Path(path_type=Path),
                             help="Lift config (configs/capf/*.py, configs/ablations/*.py).")
device_option = click.option("--device", default="auto", help="cpu, cuda, cuda:1 ... (auto: cuda if available).")
workers_option = click.option("--workers", type=int, default=None, help="Loader processes (default: train.workers).")


@click.command(cls=CapfCommand)
@config_option
@store_options
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("work_dirs"),
              help="Runs go to WORK_DIR/<config stem>/<timestamp> (a new one per run).")
@click.option("--resume", type=click.Path(path_type=Path), default=None,
              help="Continue a run exactly: its run dir (newest checkpoint) or a checkpoint file.")
@click.option("--max-iters", type=int, default=None, help="Stop after this many optimizer steps (smoke runs).")
@click.option("--epochs", type=int, default=None, help="Override train.epochs.")
@device_option
@workers_option
@click.option("--quiet", is_flag=True, help="No progress bars.")
def train(config_path, store, data_root, checkpoint, random_init, cache_dir, work_dir, resume, max_iters, epochs,
          device, workers, quiet):
    """Stage two: train the lifter on cached features; writes checkpoints, logs and the final report.

    Under torchrun (`make train NPROC=N`) the ranks train one model with DistributedDataParallel
    (gloo on CPU, NCCL on GPUs: one GPU per rank); rank 0 writes the run and prints the summary."""
    from stages.distributed import Ranks, process_group
    from stages.lift.checkpoints import find_resume_checkpoint
    from stages.lift.train import TrainRequest, train as run_training

    cfg = load_config(config_path)
    recorded = None
    if resume is not None:
        run_file = find_resume_checkpoint(resume)[0] / "run.json"
        if run_file.is_file():
            recorded = json.loads(run_file.read_text())["store"]
    with process_group():
        store_path = resolve_store(cfg, store=store, data_root=data_root, cache_dir=cache_dir, checkpoint=checkpoint,
                                   random_init=random_init, recorded=recorded, quiet=quiet)
        result = run_training(TrainRequest(cfg=cfg, store_path=store_path, work_root=work_dir,
                                           config_name=Path(config_path).stem, resume=resume, max_iters=max_iters,
                                           epochs=epochs, device=device, workers=workers, progress=not quiet))
        main = Ranks.current().main
    if not main:
        return
    click.echo(f"run dir: {result.run_dir}")
    click.echo(f"epochs {result.epochs_done}, iterations {result.iterations}, last checkpoint {result.last_checkpoint.name}"
               + (f", best {result.best_checkpoint.name} (val MPJPE {result.best_val_mpjpe:.2f} mm)"
                  if result.best_checkpoint else ""))
    if result.metrics:
        mpjve = result.metrics.get("mpjve")
        click.echo(f"MPJPE {result.metrics['mpjpe']:.2f} mm, P-MPJPE {result.metrics['p_mpjpe']:.2f} mm"
                   + (f", MPJVE {mpjve:.2f} mm" if mpjve is not None else "") + f" ({result.run_dir / 'metrics.json'})")


@click.command("eval", cls=CapfCommand)
@config_option
@click.option("--ckpt", required=True, type=click.Path(path_type=Path), help="Lifter checkpoint (best.pth, epoch_N.pth).")
@store_options
@click.option("--out-dir", type=click.Path(path_type=Path), default=None,
              help="Report folder (default: <checkpoint's run dir>/eval_<checkpoint stem>).")
@click.option("--flip-test/--no-flip-test", default=None, help="Flip-test averaging (default: eval.flip_test).")
@device_option
@workers_option
@click.option("--batch-size", type=int, default=None, help="Frames per batch (default: eval.batch_size).")
@click.option("--quiet", is_flag=True, help="No progress output from extraction.")
@click.option("--all-frames", is_flag=True,
              help="Every frame of the store, not the config's test subjects (e.g. the store of a `capf infer` clip).")
def evaluate(config_path, ckpt, store, data_root, checkpoint, random_init, cache_dir, out_dir, flip_test, device,
             workers, batch_size, quiet, all_frames):
    """Evaluate a lifter checkpoint on the config's test split; writes metrics.json, table.md and plots."""
    from cache.store import FeatureStore
    from stages.lift.checkpoints import load_checkpoint_file
    from stages.lift.evaluate import evaluate_checkpoint

    cfg = load_config(config_path)
    if all_frames:
        cfg["data"] = {**cfg.get("data", {}), "test_subjects": None}
    meta = load_checkpoint_file(Path(ckpt)).get("meta", {})
    store_path = resolve_store(cfg, store=store, data_root=data_root, cache_dir=cache_dir, checkpoint=checkpoint,
                               random_init=random_init, recorded=meta.get("store_path"), quiet=quiet)
    key = FeatureStore.open(store_path).key
    if meta.get("store_key") and meta["store_key"] != key:
        click.echo(f"warning: {ckpt} was trained on store {meta['store_key']}, evaluating on {key}", err=True)
    out = Path(out_dir) if out_dir is not None else Path(ckpt).parent / f"eval_{Path(ckpt).stem}"
    result = evaluate_checkpoint(cfg, Path(ckpt), store_path, out_dir=out, device=device, workers=workers,
                                 batch_size=batch_size, flip_test=flip_test, title=Path(config_path).stem)
    metrics = result.metrics
    mpjve = f", MPJVE {metrics['mpjve']:.2f} mm" if metrics.get("mpjve") is not None else ""
    pck = (f", PCK@150 {metrics['pck150']:.1f} %, AUC {metrics['auc']:.1f} % (the test set's 14 joints)"
           if "pck150" in metrics else "")
    click.echo(f"MPJPE {metrics['mpjpe']:.2f} mm, P-MPJPE {metrics['p_mpjpe']:.2f} mm{mpjve}{pck} over "
               f"{len(result.frames)} frames; report in {out}")


@click.command(cls=CapfCommand)
@click.argument("config_path", metavar="CONFIG", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print {\"params\": ..., \"flops_per_frame\": ...} only.")
def flops(config_path, as_json):
    """Parameters and FLOPs per frame (2 x multiply-adds) of CONFIG's lifter, like the paper's Table 3.

    Level shapes come from the config's detector_levels (strides, channels, input size); without
    them, from probing the extract config's detector (needs mmpose)."""
    from stages.lift.build import build_lifter, geometry_from_config, geometry_from_detector
    from stages.lift.cost import count_cost
    from stages.lift.settings import lift_settings

    raw = load_config(config_path)
    if "model" not in raw:
        raise click.ClickException(f"{config_path}: an extract config (no model section); pass a lift config")
    cfg = lift_settings(raw)
    try:
        geometry = geometry_from_config(cfg) if cfg.get("detector_levels") else geometry_from_detector(cfg)
        model = build_lifter(cfg, geometry)
    except (ValueError, KeyError) as error:
        raise click.ClickException(f"{config_path}: {error}") from error
    cost = count_cost(model, level_shapes=geometry.level_shapes())
    temporal = {k: cost[k] for k in ("frames", "flops_per_frame_shared") if k in cost}
    if as_json:
        click.echo(json.dumps({"params": cost["params"], "flops_per_frame": cost["flops_per_frame"], **temporal}))
        return
    click.echo(f"{Path(config_path).stem}: context={model.context}, levels {geometry.names}"
               + (f", {temporal['frames']} frames per window" if temporal else ""))
    click.echo(f"params          {cost['params']:,}")
    click.echo(f"FLOPs per {'output ' if temporal else ''}frame {cost['flops_per_frame'] / 1e6:.1f} M")
    if temporal:
        click.echo(f"  (every frame of a video, per-frame encodings shared by the windows: "
                   f"{temporal['flops_per_frame_shared'] / 1e6:.1f} M per frame)")
    for name, value in cost["breakdown"].items():
        click.echo(f"  {name:22s} {value / 1e6:8.1f} M")
