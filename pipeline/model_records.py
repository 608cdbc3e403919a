"""The results ledger of the demo and `capf ablate`: train-and-evaluate one lifter config on a cache, once.

A finished model leaves `<work>/models/<name>.json` (metrics, FLOPs, params, run dir) keyed by the
config's content and the store's key, so re-running a demo or an ablation skips what is done.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from cache.atomic import write_text_atomic


def echo(step: str, message: str) -> None:
    click.echo(f"[capf] {step}: {message}")


def _digest(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def merge_overrides(cfg: dict, overrides: dict) -> dict:
    """``cfg`` with the nested ``overrides`` dicts merged in (a study's variant of one config)."""
    out = dict(cfg)
    for key, value in overrides.items():
        out[key] = merge_overrides(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def record_name(config: str, overrides: dict | None = None, seed: int | None = None) -> str:
    """``<config stem>[-<overrides digest>][_seed<k>]``: one name per trained variant, shared by every
    study (and by the demo, whose models are the plain config stems at the config's own seed)."""
    name = Path(config).stem + (f"-{_digest(overrides)[:8]}" if overrides else "")
    return name if seed is None else f"{name}_seed{seed}"


def _store_has_flips(store_path: Path) -> bool:
    from cache.store import FeatureStore

    return FeatureStore.open(store_path).has_flip_features()


def train_and_record(name: str, config: str, store_path: Path, work: Path, store_key: str, *,
                     epochs: int | None = None, seed: int | None = None, overrides: dict | None = None,
                     train_missing: bool = True) -> dict | None:
    """Train and evaluate one lifter unless a finished record for this config and cache exists.

    ``seed`` overrides the config's ``train.seed`` (the seeds of a study); ``overrides`` are merged
    into the config (a study's variant). The record's identity is the merged config's content, the
    store's key, the epochs, the seed where it differs from the config's own, and whether the store
    has flip features (``flip_features='auto'`` trains differently once they are added).
    ``train_missing=False`` only looks the record up (None when there is none)."""
    from cache.store import FeatureStore
    from pipeline.config import load_config
    from stages.lift.build import build_lifter, geometry_from_store
    from stages.lift.cost import count_cost
    from stages.lift.settings import lift_settings
    from stages.lift.train import TrainRequest, train
    from stages.threads import fixed_torch_threads

    raw = merge_overrides(load_config(config), overrides or {})
    cfg = lift_settings(raw)
    if seed == cfg["train"]["seed"]:
        seed = None  # the config's own seed: the same training as without one
    identity = {"config": config, "config_digest": _digest(raw), "store_key": store_key, "epochs": epochs,
                **({"seed": seed} if seed is not None else {}),
                **({"overrides": overrides} if overrides else {}),
                "store_flip": _store_has_flips(store_path)}
    record_path = work / "models" / f"{name}.json"
    if record_path.exists():
        record = json.loads(record_path.read_text())
        if record.get("identity") == identity:
            echo(name, f"done before (MPJPE {record['mpjpe']:.1f} mm): {record['run_dir']}")
            return record
    if not train_missing:
        return None
    if seed is not None:
        cfg["train"]["seed"] = seed
    with fixed_torch_threads():  # a study's numbers must not depend on the machine's cores (stages.threads)
        result = train(TrainRequest(cfg=cfg, store_path=store_path, work_root=work / "runs",
                                    config_name=name, epochs=epochs, device="auto", progress=True))
    model = build_lifter(cfg, geometry_from_store(cfg, FeatureStore.open(store_path)))
    cost = count_cost(model)
    record = {"mpjpe": float(result.metrics["mpjpe"]), "p_mpjpe": float(result.metrics["p_mpjpe"]),
              "mpjpe_frame_weighted": float(result.metrics.get("mpjpe_frame_weighted", float("nan"))),
              "mpjve": result.metrics.get("mpjve"), **{k: cost[k] for k in ("frames", "flops_per_frame_shared") if k in cost},
              "flops_per_frame": int(cost["flops_per_frame"]), "params": int(cost["params"]),
              "epochs": result.epochs_done, "run_dir": str(result.run_dir), "identity": identity}
    record_path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(record_path, json.dumps(record, indent=2))
    echo(name, f"MPJPE {record['mpjpe']:.1f} mm, P-MPJPE {record['p_mpjpe']:.1f} mm ({result.run_dir})")
    return record


def summary_rows(records: dict[str, dict]) -> dict[str, dict]:
    """The columns of the comparison table (stages.lift.report.format_comparison_table)."""
    return {name: {k: record[k] for k in ("mpjpe", "p_mpjpe", "flops_per_frame", "params")}
            for name, record in records.items()}
