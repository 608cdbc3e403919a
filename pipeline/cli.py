"""The `capf` command line: verbs that wire configs to stages (`extract`, `cache ls|verify`, …)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from pipeline.config import load_config
from pipeline.infer import infer
from pipeline.export_cli import export
from pipeline.cache_cli import cache
from pipeline.authors_cli import check_parity_command, import_command
from pipeline.lift_cli import evaluate, flops, train
from pipeline.live_cli import live
from pipeline.options import CapfGroup, cache_dir_option
from pipeline.demo import DEFAULT_WORLD
from stages.synth.render import DEFAULT_LOOK, LOOKS


@click.group(cls=CapfGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """CAPF: offline feature cache + Context-Aware PoseFormer."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path), help="Extract config (configs/extract/*.py).")
@click.option("--data-root", required=True, type=click.Path(path_type=Path), help="Dataset root (images + annotations).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None, help="Detector checkpoint (.pth), a local file.")
@click.option("--random-init", is_flag=True, help="No checkpoint: random weights (tests and smoke runs; recorded in the store).")
@cache_dir_option
@click.option("--device", default="auto", help="cpu, cuda, cuda:1 … (auto: cuda if available).")
@click.option("--batch-size", type=int, default=None, help="Frames per detector forward (default: config).")
@click.option("--workers", type=int, default=None, help="Loader processes for decode + crop (default: config).")
@click.option("--max-shards", type=int, default=None, hidden=True, help="Stop after this many shards.")
@click.option("--flip", is_flag=True,
              help="Also store feat_flip/<l>: the detector's maps of the mirrored crops (one more detector pass, "
                   "the maps' bytes again); added to an existing store without touching its arrays.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def extract(config_path, data_root, checkpoint, random_init, cache_dir, device, batch_size, workers, max_shards, flip,
            quiet):
    """Stage one: run the 2D detector over the dataset's frames and write the feature store."""
    from stages.distributed import process_group, rank_and_world
    from stages.extract.runner import ExtractRequest, run_extraction

    main = rank_and_world()[0] == 0
    request = ExtractRequest(config=load_config(config_path), data_root=data_root, cache_dir=cache_dir,
                             checkpoint=checkpoint, random_init=random_init, device=device, batch_size=batch_size,
                             num_workers=workers, max_shards=max_shards, flip=flip, progress=not quiet and main)
    with process_group():
        result = run_extraction(request)
    if main:
        click.echo(result.summary())


main.add_command(train)
main.add_command(evaluate)
main.add_command(flops)
main.add_command(infer)
main.add_command(cache)
main.add_command(import_command)
main.add_command(check_parity_command)
main.add_command(live)
main.add_command(export)


@main.command()
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Dataset folder to write (mmpose H36M layout).")
@click.option("--train-frames", default=2400, help="Frames of the train subjects (S1, S5, S6, S7, S8).")
@click.option("--test-frames", default=600, help="Frames of the test subjects (S9, S11).")
@click.option("--seed", default=0, help="Everything is deterministic from it.")
@click.option("--image-size", default="500x500", help="WxH pixels.")
@click.option("--workers", default=1, help="Rendering processes (the output does not depend on it).")
@click.option("--layout", type=click.Choice(["h36m", "3dhp"]), default="h36m",
              help="h36m: mmpose's Human3.6M layout; 3dhp: MPI-INF-3DHP in mmpose's and the official layout.")
@click.option("--image-scale", default=0.25, help="3dhp: frame size as a fraction of the real 2048x2048 / 1920x1080.")
@click.option("--look", type=click.Choice(LOOKS), default=DEFAULT_LOOK,
              help="limbs: every limb its own colour (left warm, right cool); clothing: shirt, pants and skin, "
                   "the same on left and right.")
@click.option("--official-train/--no-official-train", default=True,
              help="3dhp: also the official training layout (S<s>/Seq<q>/annot.mat, videos; 8x the train renders).")
def synth(out: Path, train_frames: int, test_frames: int, seed: int, image_size: str, workers: int, layout: str,
          image_scale: float, look: str, official_train: bool) -> None:
    """Render a synthetic Human3.6M or MPI-INF-3DHP (real mocap + sampled poses) in the datasets' layouts."""
    from stages.synth.writer import write_synthetic_h36m

    if layout == "3dhp":
        from stages.synth.mpi3dhp import describe, write_synthetic_3dhp

        meta = write_synthetic_3dhp(out, n_train=train_frames, n_test=test_frames, seed=seed, image_scale=image_scale,
                                    workers=workers, look=look, official_train=official_train)
        return click.echo(describe(meta, out))

    width, height = (int(v) for v in image_size.lower().split("x"))
    meta = write_synthetic_h36m(out, n_train=train_frames, n_test=test_frames, seed=seed,
                                image_size=(width, height), workers=workers, look=look)
    counts = meta["counts"]
    click.echo(f"synthetic Human3.6M: {counts['train']['frames']} train + {counts['test']['frames']} test frames "
               f"({width}x{height}, {look} look) in {out}")


@main.command("train-detector")
@click.option("--config", "config_path", default="configs/detectors/hrnet_slim_128x96_synth.py",
              help="mmpose training config of the detector.")
@click.option("--data-root", required=True, type=click.Path(path_type=Path), help="Dataset with train_/test_coco.json.")
@click.option("--work-dir", required=True, type=click.Path(path_type=Path), help="Where the checkpoint goes.")
@click.option("--epochs", type=int, default=None, help="Override the config's epochs.")
@click.option("--workers", type=int, default=None, help="Loader processes.")
def train_detector_command(config_path: str, data_root: Path, work_dir: Path, epochs: int | None,
                           workers: int | None) -> None:
    """Train a 2D detector with mmpose's own Runner (the demo's detector); prints checkpoint, sha256, PCK."""
    from stages.detector.training import train_detector

    result = train_detector(config_path, data_root, work_dir, max_epochs=epochs, workers=workers)
    click.echo(f"detector: {result.checkpoint} sha256 {result.sha256} PCK@0.05 {result.pck:.3f} "
               f"({result.epochs} epochs)")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("bench/results.json"), help="Results JSON.")
@click.option("--work", type=click.Path(path_type=Path), default=None,
              help="Scratch folder for stores and copies (default: a temporary folder, removed after).")
@click.option("--quick", is_flag=True, help="Small sizes: a smoke run of every figure.")
@click.option("--device", default="auto", help="cpu, cuda … (auto: cuda if available).")
@click.option("--scale", type=int, default=None,
              help="Instead: write an N-frame HRNet-W32-shaped store and measure it at scale (bench/scale.json).")
@click.option("--dtype", "feature_dtype", type=click.Choice(["int8", "float16"]), default="int8",
              help="Feature type of the --scale store.")
def bench(out: Path, work: Path | None, quick: bool, device: str, scale: int | None, feature_dtype: str) -> None:
    """Measure extraction, loader and cache-read throughput as ratios in one run; write JSON."""
    import tempfile

    from pipeline.bench import format_bench_table, run_bench

    if scale is not None:
        import json

        from pipeline.bench_scale import run_scale_bench
        from stages.distributed import resolve_device

        scale_out = out.with_name("scale.json")
        device = str(resolve_device(device))
        with tempfile.TemporaryDirectory(prefix="capf-scale-") as scratch:  # --work keeps the store for reruns
            entry = run_scale_bench(Path(work) if work else Path(scratch), scale_out, frames=scale,
                                    feature_dtype=feature_dtype, device=device)
        click.echo(json.dumps({k: entry[k] for k in ("frames", "feature_dtype", "open_seconds", "dataset_seconds",
                                                     "epoch", "loader_vs_memory")}, indent=1, default=str))
        click.echo(f"written: {scale_out}")
        return
    with tempfile.TemporaryDirectory(prefix="capf-bench-") as scratch:
        results = run_bench(Path(work) if work else Path(scratch), out, quick=quick, device=device)
    click.echo(format_bench_table(results))
    click.echo(f"written: {out}")


demo_options = [
    click.option("--world", type=click.Choice(LOOKS), default=DEFAULT_WORLD,
                 help="The synthetic world's look: limbs (every limb its own colour, left warm, right cool) or "
                      "clothing (clothing-like colours, the same on left and right)."),
    click.option("--work-dir", type=click.Path(path_type=Path), default=None,
                 help="Everything the demo writes (data, detector, cache, runs, summary) "
                      "[default: work_dirs/demo for the default clothing world, work_dirs/demo_<world> for another]."),
    click.option("--train-frames", default=2400, help="Synthetic train frames."),
    click.option("--test-frames", default=600, help="Synthetic test frames."),
    click.option("--detector-epochs", type=int, default=None, help="Override the detector config's epochs."),
    click.option("--lift-epochs", type=int, default=None, help="Override the lifter configs' epochs."),
]


def _with_demo_options(func):
    for option in reversed(demo_options):
        func = option(func)
    return func


@main.command()
@_with_demo_options
def demo(world, work_dir, train_frames, test_frames, detector_epochs, lift_epochs) -> None:
    """The synthetic closed loop: synth -> detector -> extract -> step 0 vs full CA-PF -> summary."""
    from pipeline.demo import DemoSettings, run_demo

    run_demo(DemoSettings(world=world, work_dir=work_dir, train_frames=train_frames, test_frames=test_frames,
                          detector_epochs=detector_epochs, lift_epochs=lift_epochs))


@main.command()
@_with_demo_options
@click.option("--store", type=click.Path(path_type=Path), default=None,
              help="Run on this store instead of the demo's cache (then pass --config for each model).")
@click.option("--config", "configs", multiple=True, help="A lift config to include (repeatable; default: the demo's set).")
@click.option("--study", type=click.Choice(["paper", "temporal", "flip", "steps", "recipe", "parity", "world", "dtype"]),
              default="paper", help="paper: Table 3 steps and Table 4 levels, one seed; temporal: Table 6 "
              "(PoseFormer and CA-PF-S, 1-81 frames); flip, steps, recipe, parity, world, dtype: seeded studies of "
              "CAPF's choices (pipeline/studies.py), written to work_dirs/demo/studies/NAME.{json,md}.")
@click.option("--seeds", default=1, help="Seeds per variant for a study (first-seed, ...): mean ± std.")
@click.option("--first-seed", default=0, help="A study's seeds are first-seed .. first-seed + seeds - 1; records "
              "of other seeds are reused and summarised, so several processes can share a study.")
def ablate(world, work_dir, train_frames, test_frames, detector_epochs, lift_epochs, store, configs, study, seeds,
           first_seed) -> None:
    """Every ablation of the paper (Table 3 steps, Table 4 levels; or --study temporal: Table 6) on one cache."""
    from pipeline.demo import ABLATION_CONFIGS, DemoSettings, run_ablation, study_store

    if study not in ("paper", "temporal"):
        from pipeline.studies import run_study

        run_study(study, range(first_seed, first_seed + seeds), work_dir=work_dir, world=world, lift_epochs=lift_epochs,
                  train_frames=train_frames,
                  test_frames=test_frames, detector_epochs=detector_epochs)
        return
    settings = DemoSettings(world=world, work_dir=work_dir, train_frames=train_frames, test_frames=test_frames,
                            detector_epochs=detector_epochs, lift_epochs=lift_epochs)
    if study == "temporal":
        from pipeline.temporal_study import run_temporal_study

        store_path, store_key = study_store(settings, store)
        run_temporal_study(store_path, store_key, settings.work_dir, seeds=range(first_seed, first_seed + seeds),
                           epochs=lift_epochs)
        return
    chosen = {Path(c).stem: c for c in configs} if configs else dict(ABLATION_CONFIGS)
    run_ablation(settings, chosen, store)


@main.command("study-dtype")
@click.option("--store", required=True, type=click.Path(path_type=Path), help="A complete fp16 store (e.g. the demo's).")
@click.option("--config", default="configs/demo/step3_full.py", help="Lift config trained on both stores.")
@click.option("--work-dir", type=click.Path(path_type=Path), default=Path("work_dirs/dtype_study"),
              help="Where the int8 store, the runs and study.json/study.md go.")
@click.option("--seeds", default=3, help="Seeds per store (0..N-1).")
@click.option("--epochs", type=int, default=None, help="Override the config's epochs.")
def study_dtype(store: Path, config: str, work_dir: Path, seeds: int, epochs: int | None) -> None:
    """fp16 vs int8 features: MPJPE mean ± std over seeds, and bytes per frame of each store."""
    from pipeline.dtype_study import run_dtype_study

    run_dtype_study(store, config, work_dir, seeds=tuple(range(seeds)), epochs=epochs)
    click.echo((Path(work_dir) / "study.md").read_text())
