"""`capf ablate --study temporal`: the paper's Table 6 (App. C) on one feature store.

PoseFormer (context off) and CA-PF-S, each over T = 1, 3, 9, 27, 81 frames, all read the store's
joint features (added first if the store lacks them) and are trained and evaluated with the one
training loop and evaluation, once per seed. Out: ``<work>/temporal.md`` (a Table-6-shaped table,
mean ± std over seeds, the paper's numbers beside ours) and ``<work>/temporal.json`` (every run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click
import numpy as np

from pipeline.model_records import echo, train_and_record

MODELS = {"PoseFormer": "poseformer", "CA-PF-S": "capf_s"}  # row label -> config file prefix
FRAMES = (1, 3, 9, 27, 81)
DEMO_CONFIG_DIR = Path("configs/demo/temporal")
# Paper Table 6 (Human3.6M, CPN 2D): (MPJPE, MPJVE) in mm; blank where the paper has no entry.
PAPER_TABLE6 = {
    ("PoseFormer", 1): (53.2, 13.7), ("PoseFormer", 3): (51.0, 7.1), ("PoseFormer", 9): (49.9, 4.8),
    ("PoseFormer", 81): (44.3, 3.1),
    ("CA-PF-S", 1): (44.7, 8.5), ("CA-PF-S", 3): (44.2, 4.8), ("CA-PF-S", 9): (43.4, 3.4), ("CA-PF-S", 27): (40.2, 2.1),
}


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


def summarise(runs: dict[tuple[str, int], list[dict]]) -> list[dict]:
    """One row per (model, T): mean and std over seeds of MPJPE and MPJVE, FLOPs, params, paper values."""
    rows = []
    for (model, t), records in runs.items():
        mpjpe, mpjpe_std = mean_std([r["mpjpe"] for r in records])
        velocities = [r["mpjve"] for r in records if r.get("mpjve") is not None]
        mpjve, mpjve_std = mean_std(velocities) if velocities else (None, None)
        paper = PAPER_TABLE6.get((model, t), (None, None))
        rows.append({"model": model, "frames": t, "seeds": len(records), "mpjpe": mpjpe, "mpjpe_std": mpjpe_std,
                     "mpjve": mpjve, "mpjve_std": mpjve_std, "flops_per_frame": records[0]["flops_per_frame"],
                     "flops_per_frame_shared": records[0].get("flops_per_frame_shared"),
                     "params": records[0]["params"], "paper_mpjpe": paper[0], "paper_mpjve": paper[1]})
    return rows


def _cell(mean: float | None, std: float | None, seeds: int) -> str:
    if mean is None:
        return "–"
    return f"{mean:.1f} ± {std:.1f}" if seeds > 1 else f"{mean:.1f}"


def format_table6(rows: list[dict]) -> str:
    """Markdown shaped like the paper's Table 6 (plus the paper's numbers for comparison)."""
    lines = ["| Model | Frames | MPJPE (mm) | MPJVE (mm) | MFLOPs / output frame | Params (M) | paper MPJPE | paper MPJVE |",
             "|:---|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        paper = [f"{row[k]:.1f}" if row[k] is not None else "–" for k in ("paper_mpjpe", "paper_mpjve")]
        lines.append(f"| {row['model']} | {row['frames']} | {_cell(row['mpjpe'], row['mpjpe_std'], row['seeds'])} | "
                     f"{_cell(row['mpjve'], row['mpjve_std'], row['seeds'])} | {row['flops_per_frame'] / 1e6:.1f} | "
                     f"{row['params'] / 1e6:.2f} | {paper[0]} | {paper[1]} |")
    return "\n".join(lines)


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


def run_temporal_study(store_path: Path, store_key: str, work: Path, *, seeds: Sequence[int] = (0,),
                       epochs: int | None = None, config_dir: Path = DEMO_CONFIG_DIR,
                       frames: Sequence[int] = FRAMES) -> dict:
    """Train and evaluate every (model, T) for every seed on one store; write the table and JSON."""
    from stages.lift.joint_feats import write_joint_feats

    configs = study_configs(config_dir, frames)
    echo("joint features", write_joint_feats(store_path, progress=True).summary())
    runs: dict[tuple[str, int], list[dict]] = {key: [] for key in configs}
    for seed in seeds:
        for (model, t), config in configs.items():
            name = f"temporal_{config.stem}_seed{seed}"
            runs[(model, t)].append(train_and_record(name, str(config), store_path, work, store_key,
                                                     epochs=epochs, seed=seed))
    rows = summarise(runs)
    table = format_table6(rows)
    trend = trends(rows)
    notes = [f"- {model}: MPJVE " + ("falls" if t["mpjve_falls_at_every_step"] else "does not fall")
             + " at every step of T (" + ", ".join(f"T={f}: {v:.2f}" for f, v in zip(t["frames"], t["mpjve"])
                                                   if v is not None) + " mm)" for model, t in trend.items()]
    seeds_note = f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}): mean ± std" if len(seeds) > 1 else "1 seed"
    work.mkdir(parents=True, exist_ok=True)
    (work / "temporal.md").write_text(
        f"# Temporal lifters (paper Table 6) on {Path(store_path).name}\n\n{seeds_note}; MPJPE and MPJVE are means "
        f"over actions (mm); FLOPs per output frame = one window of T frames.\n\n{table}\n\n" + "\n".join(notes) + "\n")
    (work / "temporal.json").write_text(json.dumps(
        {"store": str(store_path), "seeds": list(seeds), "rows": rows, "trends": trend,
         "runs": {f"{m}_t{t}": records for (m, t), records in runs.items()}}, indent=2))
    click.echo(table)
    click.echo("\n".join(notes))
    click.echo(f"[ablate] temporal study: {work / 'temporal.md'}, {work / 'temporal.json'}")
    return {"rows": rows, "trends": trend}
