"""`make demo`: the synthetic closed loop end to end, each step skipped when its output exists.

synth (real mocap + sampled poses -> mmpose-layout Human3.6M) -> train the slim HRNet detector with
mmpose's Runner -> extract the feature cache -> train the context-agnostic step 0 and the full
context-aware step 3 on that one cache -> evaluate both -> summary.json, summary.md, a bar plot.

Two worlds (the renderer's looks): ``limbs`` (every limb its own colour, left warm and right cool)
and ``clothing`` (clothing-like colours, the same on left and right). Each world has its own work
dir (``work_dirs/demo`` for the default ``clothing``, ``work_dirs/demo_limbs``), so data, detector and store
never mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import click

from pipeline.model_records import echo, summary_rows, train_and_record

DETECTOR_CONFIG = "configs/detectors/hrnet_slim_128x96_synth.py"
EXTRACT_CONFIG = "configs/demo/synth_extract.py"
MODEL_CONFIGS = {"step0_no_context": "configs/demo/step0_no_context.py",
                 "step3_full": "configs/demo/step3_full.py"}
# `make ablate`: the paper's Table 3 steps and Table 4 level subsets, all on the demo's one cache.
ABLATION_CONFIGS = {
    "step0_no_context": "configs/demo/step0_no_context.py",
    "step1_concat": "configs/demo/step1_concat.py",
    "step2_fusion": "configs/demo/step2_fusion.py",
    "step3_full": "configs/demo/step3_full.py",
    "levels_stride4_only": "configs/demo/levels_stride4_only.py",
    "levels_stride32_only": "configs/demo/levels_stride32_only.py",
    "levels_stride4_8": "configs/demo/levels_stride4_8.py",
    "levels_no_stride4": "configs/demo/levels_no_stride4.py",
}


DEFAULT_WORLD = "clothing"  # the world study: context still helps where colour cannot tell left from right


def default_work_dir(world: str) -> Path:
    """``work_dirs/demo`` for the default world, ``work_dirs/demo_<world>`` for another."""
    return Path("work_dirs/demo") if world == DEFAULT_WORLD else Path(f"work_dirs/demo_{world}")


def demo_world(work_dir: Path, default: str | None = DEFAULT_WORLD) -> str | None:
    """The world of the demo data in ``work_dir`` (``default`` where there is none yet)."""
    from stages.synth.writer import dataset_look

    meta = Path(work_dir) / "synth_h36m" / "meta.json"
    return dataset_look(json.loads(meta.read_text())) if meta.is_file() else default


@dataclass
class DemoSettings:
    world: str = DEFAULT_WORLD  # the renderer's look: "limbs" | "clothing"
    work_dir: Path | None = None  # default: default_work_dir(world)
    cache_dir: Path | None = None  # default: <work_dir>/cache, so the demo is self-contained
    train_frames: int = 2400
    test_frames: int = 600
    seed: int = 0
    detector_epochs: int | None = None  # the detector config's own (12)
    lift_epochs: int | None = None  # the model configs' own
    models: dict[str, str] = field(default_factory=lambda: dict(MODEL_CONFIGS))
    flip: bool = True  # also extract the detector's maps of the mirrored crops (flip_features='auto' reads them)

    def __post_init__(self) -> None:
        if self.work_dir is None:
            self.work_dir = default_work_dir(self.world)


@dataclass(frozen=True)
class DemoCache:
    store_path: Path
    store_key: str
    detector_pck: float


def _plot(summary: dict, path: Path) -> None:
    """Bar plot of both protocols per model (matplotlib's Figure API: no pyplot global state)."""
    from matplotlib.figure import Figure

    names = list(summary)
    fig = Figure(figsize=(5, 3.2))
    ax = fig.subplots()
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [summary[n]["mpjpe"] for n in names], width=0.4, label="MPJPE (P1)")
    ax.bar([i + 0.2 for i in x], [summary[n]["p_mpjpe"] for n in names], width=0.4, label="P-MPJPE (P2)")
    ax.set_xticks(list(x), names)
    ax.set_ylabel("mm (synthetic test subjects S9, S11)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def prepare_demo_cache(settings: DemoSettings, dataset_overrides: dict | None = None) -> DemoCache:
    """Synthetic data -> trained detector -> feature store, each step a cache hit when done.

    ``dataset_overrides`` change the extract config's frame source (the authors' crop of a study):
    another store of the same frames under its own key, by the same detector."""
    from cache.store import FeatureStore
    from pipeline.config import load_config
    from stages.detector.training import train_detector
    from stages.extract.runner import ExtractRequest, run_extraction
    from stages.synth.writer import write_synthetic_h36m
    from stages.threads import fixed_torch_threads

    work = settings.work_dir
    data_root = work / "synth_h36m"
    found = demo_world(work, default=None)
    if found not in (None, settings.world):  # its detector and store belong to the other world's data
        raise click.ClickException(f"{work} holds the demo of the {found!r} world; pass --world {found}, or "
                                   f"another --work-dir for the {settings.world!r} world")
    meta = write_synthetic_h36m(data_root, n_train=settings.train_frames, n_test=settings.test_frames,
                                seed=settings.seed, progress=True, look=settings.world)
    echo("synth", f"{meta['counts']['train']['frames']} train + {meta['counts']['test']['frames']} test frames "
                   f"({settings.world} world) in {data_root}")

    with fixed_torch_threads():  # the same weights on every machine (stages.threads)
        detector = train_detector(DETECTOR_CONFIG, data_root, work / "detector", max_epochs=settings.detector_epochs,
                                  seed=settings.seed)
    echo("detector", f"{detector.checkpoint} (sha256 {detector.sha256[:12]}…), 2D PCK@0.05 on the test split "
                      f"{detector.pck:.3f}")

    extract_cfg = load_config(EXTRACT_CONFIG)
    extract_cfg["detector"]["checkpoint_sha256"] = detector.sha256
    extract_cfg["dataset"].update(dataset_overrides or {})
    with fixed_torch_threads():
        extraction = run_extraction(ExtractRequest(config=extract_cfg, data_root=data_root,
                                                   cache_dir=settings.cache_dir or work / "cache",
                                                   checkpoint=detector.checkpoint, flip=settings.flip))
    echo("extract", extraction.summary())
    return DemoCache(extraction.path, FeatureStore.open(extraction.path).key, detector.pck)


def run_demo(settings: DemoSettings) -> dict:
    """Run (or resume) the closed loop; returns the summary keyed by ablation step name."""
    from stages.lift.report import format_comparison_table

    work = settings.work_dir
    cache = prepare_demo_cache(settings)
    summary = {name: train_and_record(name, config, cache.store_path, work, cache.store_key, epochs=settings.lift_epochs)
               for name, config in settings.models.items()}
    table = format_comparison_table(summary_rows(summary))
    public = {name: {k: record[k] for k in ("mpjpe", "p_mpjpe", "flops_per_frame", "params", "run_dir")}
              for name, record in summary.items()}
    if "step0_no_context" in public and "step3_full" in public:
        ratio = public["step3_full"]["mpjpe"] / public["step0_no_context"]["mpjpe"]
        public["step3_full"]["mpjpe_vs_step0"] = ratio
        table += f"\n\nFull context-aware / context-agnostic MPJPE: {ratio:.3f} (synthetic data)."
    (work / "summary.json").write_text(json.dumps(public, indent=2))
    (work / "summary.md").write_text(
        f"# CAPF demo: synthetic Human3.6M (S9, S11 test), {settings.world} world\n\nDetector: slim HRNet, 2D PCK@0.05 "
        f"{cache.detector_pck:.3f}. Store: {cache.store_path.name}.\n\n{table}\n")
    _plot(public, work / "summary.png")
    click.echo(table)
    click.echo(f"[demo] summary: {work / 'summary.json'}, {work / 'summary.md'}, {work / 'summary.png'}")
    return public


def study_store(settings: DemoSettings, store_path: Path | None = None) -> tuple[Path, str]:
    """The store a study runs on: `store_path`, else the demo's (made, or found, by the demo's steps)."""
    from cache.store import FeatureStore

    if store_path is None:
        cache = prepare_demo_cache(settings)
        return cache.store_path, cache.store_key
    return Path(store_path), FeatureStore.open(store_path).key


def run_ablation(settings: DemoSettings, configs: dict[str, str], store_path: Path | None = None) -> str:
    """Train every config on one cache (the demo's, or `store_path`); one markdown table out."""
    from stages.lift.report import format_comparison_table

    store_path, store_key = study_store(settings, store_path)
    records = {name: train_and_record(name, config, store_path, settings.work_dir, store_key,
                                      epochs=settings.lift_epochs) for name, config in configs.items()}
    table = format_comparison_table(summary_rows(records))
    out = settings.work_dir / "ablation.md"
    out.write_text(f"# Ablations on {Path(store_path).name}\n\n{table}\n")
    (settings.work_dir / "ablation.json").write_text(json.dumps(summary_rows(records), indent=2))
    click.echo(table)
    click.echo(f"[ablate] table: {out}")
    return table
