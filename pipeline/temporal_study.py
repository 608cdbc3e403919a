"""`capf ablate --study temporal`: the paper's Table 6 (App. C) on one feature store.

PoseFormer and CA-PF-S (:mod:`stages.lift.temporal`) over windows of T frames, all trained from one
store (CA-PF-S reads its joint features, added first if the store lacks them) with the one training
loop and evaluation. The plan is ``<config dir>/study.py`` (``frames``, ``tune``):

1. **Tuning** (one recipe per model): for each lr of ``tune.lr``, one training of the model at
   ``T = tune.frames`` that validates on ``tune.val_fraction`` of the *training* videos, held out of
   its training (``data.val_fraction``); the lowest validation MPJPE picks the model's lr.
2. **The table**: every (model, T) once per seed with its model's tuned lr, scored on the test split.

Out: ``<work>/temporal.md`` (a Table-6-shaped table, mean ± std over seeds and every seed's MPJPE, the
paper's numbers beside ours, the tuning trials) and ``<work>/temporal.json`` (every run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from pipeline.model_records import echo, record_name, train_and_record

MODELS = {"PoseFormer": "poseformer", "CA-PF-S": "capf_s"}  # row label -> config file prefix
FRAMES = (1, 3, 9, 27, 81)
DEMO_CONFIG_DIR = Path("configs/demo/temporal")
PLAN_FILE = "study.py"
# Paper Table 6 (Human3.6M, CPN 2D): (MPJPE, MPJVE) in mm; blank where the paper has no entry.
PAPER_TABLE6 = {
    ("PoseFormer", 1): (53.2, 13.7), ("PoseFormer", 3): (51.0, 7.1), ("PoseFormer", 9): (49.9, 4.8),
    ("PoseFormer", 81): (44.3, 3.1),
    ("CA-PF-S", 1): (44.7, 8.5), ("CA-PF-S", 3): (44.2, 4.8), ("CA-PF-S", 9): (43.4, 3.4), ("CA-PF-S", 27): (40.2, 2.1),
}


@dataclass(frozen=True)
class StudyPlan:
    """Which windows the table has, and how each model's recipe is tuned (``<config dir>/study.py``)."""

    frames: tuple[int, ...] = FRAMES
    tune_frames: int = 9
    val_fraction: float = 0.25
    lrs: tuple[float, ...] = ()  # empty: no tuning, each config's own lr

    @classmethod
    def load(cls, config_dir: Path) -> "StudyPlan":
        from pipeline.config import load_config

        path = Path(config_dir) / PLAN_FILE
        if not path.is_file():
            return cls()
        raw = load_config(path)
        tune = raw.get("tune", {})
        try:
            return cls(frames=tuple(int(t) for t in raw.get("frames", FRAMES)),
                       tune_frames=int(tune.get("frames", 9)), val_fraction=float(tune.get("val_fraction", 0.25)),
                       lrs=tuple(float(lr) for lr in tune.get("lr", ())))
        except (TypeError, ValueError) as error:
            raise click.ClickException(f"{path}: bad study plan ({error})") from error


def study_configs(config_dir: Path = DEMO_CONFIG_DIR, frames: Sequence[int] = FRAMES) -> dict[tuple[str, int], Path]:
    """(model, T) -> config file; a missing file is an error naming it."""
    configs = {}
    for model, prefix in MODELS.items():
        for t in frames:
            path = Path(config_dir) / f"{prefix}_t{t}.py"
            if not path.is_file():
                raise click.ClickException(f"{path}: temporal study config not found")
            configs[(model, t)] = path
    return configs


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof 1; 0 for one value) of a study's per-seed values."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def summarise(runs: dict[tuple[str, int], list[dict]], seeds: Sequence[int] | None = None) -> list[dict]:
    """One row per (model, T): mean and std over seeds of MPJPE and MPJVE, every seed's values, FLOPs,
    params, the paper's values. ``seeds`` labels the records in order (default 0, 1, ...)."""
    rows = []
    for (model, t), records in runs.items():
        labels = list(seeds) if seeds is not None else list(range(len(records)))
        mpjpe, mpjpe_std = mean_std([r["mpjpe"] for r in records])
        velocities = [r["mpjve"] for r in records if r.get("mpjve") is not None]
        mpjve, mpjve_std = mean_std(velocities) if velocities else (None, None)
        paper = PAPER_TABLE6.get((model, t), (None, None))
        rows.append({"model": model, "frames": t, "seeds": len(records), "mpjpe": mpjpe, "mpjpe_std": mpjpe_std,
                     "mpjve": mpjve, "mpjve_std": mpjve_std,
                     "per_seed": {str(seed): {"mpjpe": r["mpjpe"], "mpjve": r.get("mpjve")}
                                  for seed, r in zip(labels, records)},
                     "flops_per_frame": records[0]["flops_per_frame"],
                     "flops_per_frame_shared": records[0].get("flops_per_frame_shared"),
                     "params": records[0]["params"], "paper_mpjpe": paper[0], "paper_mpjve": paper[1]})
    return rows


def _cell(mean: float | None, std: float | None, seeds: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f} ± {std:.1f}" if seeds > 1 else f"{mean:.1f}"


def _paper(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "–"


def format_table6(rows: list[dict]) -> str:
    """Markdown shaped like the paper's Table 6, with every seed's MPJPE and the paper's numbers."""
    lines = ["| Model | Frames | seeds | MPJPE (mm) | MPJVE (mm) | MPJPE per seed (mm) | MFLOPs / output frame "
             "| Params (M) | paper MPJPE / MPJVE |",
             "|:---|---:|--:|---:|---:|:---|---:|---:|:--|"]
    for row in rows:
        per_seed = ", ".join(f"{v['mpjpe']:.1f}" for v in row.get("per_seed", {}).values())
        lines.append(f"| {row['model']} | {row['frames']} | {row['seeds']} | "
                     f"{_cell(row['mpjpe'], row['mpjpe_std'], row['seeds'])} | "
                     f"{_cell(row['mpjve'], row['mpjve_std'], row['seeds'])} | {per_seed} | "
                     f"{row['flops_per_frame'] / 1e6:.1f} | {row['params'] / 1e6:.2f} | "
                     f"{_paper(row['paper_mpjpe'])} / {_paper(row['paper_mpjve'])} |")
    return "\n".join(lines)


def comparisons(rows: list[dict]) -> list[dict]:
    """Per T with both models: CA-PF-S minus PoseFormer (mean MPJPE) and on how many paired seeds
    CA-PF-S is the better one (seed k of both models)."""
    by_key = {(r["model"], r["frames"]): r for r in rows}
    out = []
    for t in sorted({r["frames"] for r in rows}):
        capf, pf = by_key.get(("CA-PF-S", t)), by_key.get(("PoseFormer", t))
        if capf is None or pf is None:
            continue
        paired = [s for s in capf.get("per_seed", {}) if s in pf.get("per_seed", {})]
        wins = sum(capf["per_seed"][s]["mpjpe"] < pf["per_seed"][s]["mpjpe"] for s in paired)
        out.append({"frames": t, "capf_s_minus_poseformer_mm": capf["mpjpe"] - pf["mpjpe"],
                    "capf_s_better_seeds": wins, "paired_seeds": len(paired)})
    return out


def trends(rows: list[dict]) -> dict[str, dict]:
    """Per model: does MPJVE (and MPJPE) fall at every step of T? (means over seeds)"""
    out = {}
    for model in MODELS:
        ordered = sorted((r for r in rows if r["model"] == model), key=lambda r: r["frames"])
        vel = [r["mpjve"] for r in ordered]
        pos = [r["mpjpe"] for r in ordered]
        out[model] = {"frames": [r["frames"] for r in ordered], "mpjve": vel, "mpjpe": pos,
                      "mpjve_falls_at_every_step": all(b < a for a, b in zip(vel, vel[1:])) if None not in vel else None,
                      "mpjpe_falls_at_every_step": all(b < a for a, b in zip(pos, pos[1:]))}
    return out


def tune_recipes(store_path: Path, store_key: str, work: Path, plan: StudyPlan, config_dir: Path, *,
                 epochs: int | None = None) -> dict[str, dict]:
    """Per model: the lr of ``plan.lrs`` with the lowest MPJPE on the validation split carved from
    the training videos (seed 0, T = ``plan.tune_frames``), and every trial.
    Returns ``{model: {"overrides": {...}, "trials": [{"lr", "val_mpjpe"}]}}``."""
    if not plan.lrs:
        return {model: {"overrides": {}, "trials": []} for model in MODELS}
    configs = study_configs(config_dir, (plan.tune_frames,))
    out = {}
    for model in MODELS:
        config = str(configs[(model, plan.tune_frames)])
        trials = []
        for lr in plan.lrs:
            overrides = {"train": {"lr": lr}, "data": {"val_fraction": plan.val_fraction}}
            record = train_and_record(f"tune_{record_name(config, overrides)}", config, store_path, work, store_key,
                                      epochs=epochs, overrides=overrides)
            trials.append({"lr": lr, "val_mpjpe": record["mpjpe"], "val_mpjve": record.get("mpjve")})
        best = min(trials, key=lambda trial: trial["val_mpjpe"])
        echo("temporal tuning", f"{model}: lr {best['lr']:g} (validation MPJPE "
             + ", ".join(f"{t['lr']:g}: {t['val_mpjpe']:.1f}" for t in trials) + " mm)")
        out[model] = {"overrides": {"train": {"lr": best["lr"]}}, "trials": trials}
    return out


def _tuning_lines(tuning: dict[str, dict], plan: StudyPlan) -> list[str]:
    if not plan.lrs:
        return ["No tuning: each config's own lr."]
    lines = [f"Recipe tuning: lr per model at T = {plan.tune_frames}, seed 0, validated on "
             f"{plan.val_fraction:.0%} of the training videos (held out of training); validation MPJPE (mm):", ""]
    for model, tuned in tuning.items():
        chosen = tuned["overrides"]["train"]["lr"]
        lines.append(f"- {model}: " + ", ".join(f"lr {t['lr']:g}: {t['val_mpjpe']:.1f}" for t in tuned["trials"])
                     + f" -> lr {chosen:g}")
    return lines


def run_temporal_study(store_path: Path, store_key: str, work: Path, *, seeds: Sequence[int] = (0,),
                       epochs: int | None = None, config_dir: Path = DEMO_CONFIG_DIR,
                       frames: Sequence[int] | None = None) -> dict:
    """Tune each model's lr on a validation split of the training videos, then train and evaluate
    every (model, T) for every seed on one store; write the table and JSON. ``frames`` overrides
    the plan's windows."""
    from stages.lift.joint_feats import write_joint_feats

    plan = StudyPlan.load(config_dir)
    frames = tuple(frames) if frames is not None else plan.frames
    configs = study_configs(config_dir, frames)
    echo("joint features", write_joint_feats(store_path, progress=True).summary())
    tuning = tune_recipes(store_path, store_key, work, plan, config_dir, epochs=epochs)
    runs: dict[tuple[str, int], list[dict]] = {key: [] for key in configs}
    for seed in seeds:
        for (model, t), config in configs.items():
            overrides = tuning[model]["overrides"]
            name = f"temporal_{record_name(str(config), overrides, seed)}"
            runs[(model, t)].append(train_and_record(name, str(config), store_path, work, store_key,
                                                     epochs=epochs, seed=seed, overrides=overrides))
    rows = summarise(runs, seeds)
    table = format_table6(rows)
    trend = trends(rows)
    versus = comparisons(rows)
    notes = [f"- {model}: MPJVE " + ("falls" if t["mpjve_falls_at_every_step"] else "does not fall")
             + " at every step of T (" + ", ".join(f"T={f}: {v:.2f}" for f, v in zip(t["frames"], t["mpjve"])
                                                   if v is not None) + " mm)" for model, t in trend.items()]
    notes += [f"- T = {c['frames']}: CA-PF-S {c['capf_s_minus_poseformer_mm']:+.1f} mm against PoseFormer "
              f"(better on {c['capf_s_better_seeds']} of {c['paired_seeds']} seeds)" for c in versus]
    seeds_note = f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}): mean ± std" if len(seeds) > 1 else "1 seed"
    work.mkdir(parents=True, exist_ok=True)
    (work / "temporal.md").write_text(
        f"# Temporal lifters (paper Table 6) on {Path(store_path).name}\n\n{seeds_note}; MPJPE and MPJVE are means "
        f"over actions (mm); FLOPs per output frame = one window of T frames.\n\n{table}\n\n" + "\n".join(notes)
        + "\n\n" + "\n".join(_tuning_lines(tuning, plan)) + "\n")
    (work / "temporal.json").write_text(json.dumps(
        {"store": str(store_path), "seeds": list(seeds), "frames": list(frames), "rows": rows, "trends": trend,
         "comparisons": versus, "tuning": tuning,
         "runs": {f"{m}_t{t}": records for (m, t), records in runs.items()}}, indent=2))
    click.echo(table)
    click.echo("\n".join(notes))
    click.echo(f"[ablate] temporal study: {work / 'temporal.md'}, {work / 'temporal.json'}")
    return {"rows": rows, "trends": trend, "comparisons": versus, "tuning": tuning}
