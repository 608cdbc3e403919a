"""fp16 vs int8 features: the same lifter trained on both stores with several seeds (`capf study-dtype`).

The int8 store is the fp16 store re-encoded (``cache.convert``: byte-identical to an int8
extraction of the same frames), so the only difference between the two arms is the 8-bit storage.
Each (store, seed) pair trains one lifter config with ``train.seed`` set; the result is MPJPE and
P-MPJPE mean ± std over seeds per arm, and the feature bytes per frame of each store.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pipeline.model_records import echo


def _feature_bytes_per_frame(store_path: Path) -> float:
    from cache.store import FeatureStore

    store = FeatureStore.open(store_path)
    total = sum(f.stat().st_size for folder in ("feat", "feat_scale") for f in (store.path / folder).rglob("*")
                if f.is_file())
    return total / store.num_frames


def run_dtype_study(fp16_store: Path, config: str, work: Path, *, seeds: tuple[int, ...] = (0, 1, 2),
                    epochs: int | None = None) -> dict:
    """Train ``config`` on the fp16 store and on its int8 conversion for every seed; write
    ``study.json`` and ``study.md`` under ``work`` and return the summary."""
    from cache.convert import convert_store
    from pipeline.config import load_config
    from stages.lift.train import TrainRequest, train

    work = Path(work)
    stores = {"fp16": Path(fp16_store), "int8": convert_store(fp16_store, work / "cache", feature_dtype="int8")}
    runs: dict[str, list[dict]] = {arm: [] for arm in stores}
    for seed in seeds:
        for arm, store in stores.items():  # interleaved: load drift on a shared machine hits both arms
            record = work / "runs" / f"{arm}-seed{seed}.json"
            if record.exists():
                runs[arm].append(json.loads(record.read_text()))
                continue
            cfg = load_config(config)
            cfg.setdefault("train", {})["seed"] = seed
            result = train(TrainRequest(cfg=cfg, store_path=store, work_root=work / "runs", epochs=epochs,
                                        config_name=f"{arm}-seed{seed}", device="auto", progress=False))
            row = {"seed": seed, "mpjpe": float(result.metrics["mpjpe"]), "p_mpjpe": float(result.metrics["p_mpjpe"]),
                   "run_dir": str(result.run_dir)}
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(row))
            runs[arm].append(row)
            echo(f"{arm} seed {seed}", f"MPJPE {row['mpjpe']:.1f} mm, P-MPJPE {row['p_mpjpe']:.1f} mm")
    summary = {}
    for arm, rows in runs.items():
        mpjpe, p_mpjpe = np.array([r["mpjpe"] for r in rows]), np.array([r["p_mpjpe"] for r in rows])
        summary[arm] = {"mpjpe_mean": float(mpjpe.mean()), "mpjpe_std": float(mpjpe.std(ddof=1)) if len(rows) > 1 else 0.0,
                        "p_mpjpe_mean": float(p_mpjpe.mean()),
                        "p_mpjpe_std": float(p_mpjpe.std(ddof=1)) if len(rows) > 1 else 0.0,
                        "feature_bytes_per_frame": _feature_bytes_per_frame(stores[arm]),
                        "store": str(stores[arm]), "runs": rows}
    summary["int8_vs_fp16_bytes"] = summary["int8"]["feature_bytes_per_frame"] / summary["fp16"]["feature_bytes_per_frame"]
    summary["settings"] = {"config": config, "seeds": list(seeds), "epochs": epochs}
    (work / "study.json").write_text(json.dumps(summary, indent=2))
    lines = ["| store | MPJPE (mm) | P-MPJPE (mm) | feature bytes/frame |", "|:--|--:|--:|--:|"]
    for arm in stores:
        s = summary[arm]
        lines.append(f"| {arm} | {s['mpjpe_mean']:.1f} ± {s['mpjpe_std']:.1f} | {s['p_mpjpe_mean']:.1f} ± "
                     f"{s['p_mpjpe_std']:.1f} | {s['feature_bytes_per_frame']:,.0f} |")
    (work / "study.md").write_text("\n".join(lines) + f"\n\n{len(seeds)} seeds each, mean ± std.\n")
    return summary
