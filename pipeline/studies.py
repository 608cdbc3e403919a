"""`capf ablate --study NAME --seeds N`: seeded studies of CAPF's choices on the demo's store(s).

A study is a handful of variants of one demo lifter (a config plus nested overrides, on one of the
demo's stores), each trained and evaluated once per seed with the one training loop. One seed
decides nothing: every variant is reported as mean ± std over its seeds, with the per-seed values.

Stores: ``demo`` is the demo's cache of its world (``limbs`` or ``clothing``: the world study
compares both); ``authors_crop`` is the same frames extracted by the same detector with the
authors' 2 m pelvis-centred crop (``dataset.crop='authors'``, its own content key); ``int8`` is the
demo's store re-encoded with 8-bit features (``capf cache convert``). Every store a
study reads gets the flip features (``capf extract --flip``) first, so ``flip_features='auto'``
means the detector's maps of the mirrored crops everywhere except where a variant says otherwise.

Records are the demo's ledger (``<world work dir>/models``), so a variant that appears in two
studies (the full model is the baseline of several) trains once per seed, and several processes
given different ``--first-seed`` can share a study. Out: ``<demo work dir>/studies/NAME.json``
(``{variant: {"mpjpe": [per seed], "mean", "std", "p_mpjpe_mean", ...}}``) and ``NAME.md``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from pipeline.model_records import echo, record_name, train_and_record
from pipeline.temporal_study import mean_std

DEMO = "configs/demo"
FULL = f"{DEMO}/step3_full.py"
NO_CONTEXT = f"{DEMO}/step0_no_context.py"


def _flip(train: str | None, test: str | None) -> dict:
    """Overrides for the flip augmentation (``train``) and the flip test (``test``): a mode or None (off)."""
    return {"train": {"flip_aug": train is not None, **({"flip_features": train} if train else {})},
            "eval": {"flip_test": test is not None, **({"flip_features": test} if test else {})}}


@dataclass(frozen=True)
class Variant:
    """One trained arm of a study: a demo lift config, overrides merged into it, and its store."""

    config: str
    overrides: dict = field(default_factory=dict)
    world: str = "limbs"
    store: str = "demo"  # "demo" | "authors_crop" | "int8"
    eval_overrides: dict = field(default_factory=dict)  # evaluation-only: the trained arm's checkpoint, re-scored


STUDIES: dict[str, dict[str, Variant]] = {
    # the detector's maps of the mirrored crop (what the authors' code computes) against mirrored maps
    "flip": {
        "no flip (augmentation and test off)": Variant(FULL, _flip(None, None)),
        "mirrored maps (aug + test)": Variant(FULL, _flip("mirrored", "mirrored")),
        "extracted flip maps (aug + test; 'auto' on a store with them)": Variant(FULL),
        # the same three in the clothing world, where a mirrored person looks like a person
        "clothing world: no flip": Variant(FULL, _flip(None, None), world="clothing"),
        "clothing world: mirrored maps": Variant(FULL, _flip("mirrored", "mirrored"), world="clothing"),
        "clothing world: extracted flip maps": Variant(FULL, world="clothing"),
    },
    # the paper's Table 3 steps on one cache
    "steps": {
        "step 0 (no context)": Variant(NO_CONTEXT),
        "step 1 (concat)": Variant(f"{DEMO}/step1_concat.py"),
        "step 2 (fusion)": Variant(f"{DEMO}/step2_fusion.py"),
        "step 3 (deformable, full)": Variant(FULL),
    },
    # the paper's text against what the authors ran (their parameter-group bug), at the demo's scale
    "recipe": {
        "paper text (lr, offsets 0.1x; the demo's step 3)": Variant(FULL),
        "released (lr / 10 on every parameter, wd 0.1)": Variant(f"{DEMO}/recipe_released.py"),
    },
    # one difference from the authors' code at a time, against CAPF's default
    "parity": {
        "CAPF defaults": Variant(FULL),
        "reference points: authors' x/(W/2)-1": Variant(f"{DEMO}/parity_ref_authors.py"),
        "initial sampling: zero padding": Variant(f"{DEMO}/parity_zero_padding.py"),
        "deformable LayerNorm eps 1e-5": Variant(f"{DEMO}/parity_norm_eps.py"),
        "evaluation: no re-rooting (authors')": Variant(FULL, eval_overrides={"eval": {"reroot": False}}),
        "crop: authors' 2 m square at the pelvis": Variant(FULL, store="authors_crop"),
    },
    # per-limb colours (left/right told apart by colour) against clothing-like colours
    "world": {
        "limbs world, step 0": Variant(NO_CONTEXT, world="limbs"),
        "limbs world, step 3": Variant(FULL, world="limbs"),
        "clothing world, step 0": Variant(NO_CONTEXT, world="clothing"),
        "clothing world, step 3": Variant(FULL, world="clothing"),
    },
    # fp16 maps against their int8 re-encoding (issue 10: within seed noise?)
    "dtype": {
        "fp16 store": Variant(FULL),
        "int8 store (per frame and channel uint8)": Variant(FULL, store="int8"),
    },
}


def rescore_record(trained: dict, name: str, v: Variant, store_path: Path, work: Path,
                   train_missing: bool) -> dict | None:
    """An evaluation-only variant: the trained arm's best checkpoint scored with ``v.eval_overrides``
    (no second training: the two arms differ only after the weights exist). Recorded beside it."""
    from cache.atomic import write_text_atomic
    from pipeline.config import load_config
    from pipeline.model_records import merge_overrides
    from stages.lift.evaluate import evaluate_checkpoint
    from stages.lift.settings import lift_settings

    tag = record_name(v.config, v.eval_overrides).split("-", 1)[1]
    path = work / "models" / f"{name}-eval{tag}.json"
    identity = {"of": trained["identity"], "run_dir": trained["run_dir"], "eval_overrides": v.eval_overrides}
    if path.exists() and (found := json.loads(path.read_text())).get("identity") == identity:
        return found
    if not train_missing:
        return None
    cfg = lift_settings(merge_overrides(merge_overrides(load_config(v.config), v.overrides), v.eval_overrides))
    run_dir = Path(trained["run_dir"])
    result = evaluate_checkpoint(cfg, run_dir / "best.pth", store_path, out_dir=run_dir / f"eval{tag}", title=name)
    record = {**trained, "mpjpe": float(result.metrics["mpjpe"]), "p_mpjpe": float(result.metrics["p_mpjpe"]),
              "identity": identity}
    write_text_atomic(path, json.dumps(record, indent=2))
    echo(f"{name} re-scored", f"MPJPE {record['mpjpe']:.1f} mm ({v.eval_overrides})")
    return record


def _config_seed(config: str) -> int:
    from pipeline.config import load_config
    from stages.lift.settings import lift_settings

    return int(lift_settings(load_config(config))["train"]["seed"])


def summarise(runs: dict[str, list[dict]]) -> dict[str, dict]:
    """Per variant: per-seed MPJPE / P-MPJPE, their mean and std (ddof 1), and the records' run dirs."""
    out = {}
    for label, records in runs.items():
        mpjpe, p_mpjpe = [r["mpjpe"] for r in records], [r["p_mpjpe"] for r in records]
        mean, std = mean_std(mpjpe)
        p_mean, p_std = mean_std(p_mpjpe)
        out[label] = {"mpjpe": mpjpe, "mean": mean, "std": std, "p_mpjpe": p_mpjpe, "p_mpjpe_mean": p_mean,
                      "p_mpjpe_std": p_std, "seeds": [r["seed"] for r in records],
                      "run_dirs": [r["run_dir"] for r in records]}
    return out


def format_study(name: str, summary: dict[str, dict]) -> str:
    """Markdown: mean ± std over seeds, the per-seed values, and the difference to the first variant."""
    first = next(iter(summary.values()))["mean"] if summary else 0.0
    lines = [f"| {name} variant | seeds | MPJPE (mm) | P-MPJPE (mm) | vs first | per seed MPJPE |",
             "|:---|--:|--:|--:|--:|:--|"]
    for label, s in summary.items():
        lines.append(f"| {label} | {len(s['mpjpe'])} | {s['mean']:.1f} ± {s['std']:.1f} | "
                     f"{s['p_mpjpe_mean']:.1f} ± {s['p_mpjpe_std']:.1f} | {s['mean'] - first:+.1f} | "
                     + ", ".join(f"{v:.1f}" for v in s["mpjpe"]) + " |")
    return "\n".join(lines)


def world_work_dir(work_dir: Path | None, world: str, anchor: str | None = None) -> Path:
    """The demo work dir of ``world``: the default ones, or, given ``work_dir`` (the work dir of the
    ``anchor`` world, the default world unless the command names one), ``<work_dir>_<world>`` for another."""
    from pipeline.demo import DEFAULT_WORLD, default_work_dir

    if work_dir is None:
        return default_work_dir(world)
    return Path(work_dir) if world == (anchor or DEFAULT_WORLD) else Path(f"{work_dir}_{world}")


def run_study(name: str, seeds: Sequence[int], *, work_dir: Path | None = None, world: str | None = None,
              lift_epochs: int | None = None,
              train_frames: int = 2400, test_frames: int = 600, detector_epochs: int | None = None) -> dict[str, dict]:
    """Train every variant of study ``name`` for ``seeds`` (seed-major, so a cut-off study stays
    balanced); summarise every seed the ledger holds for them; write NAME.json and NAME.md under
    ``<limbs work dir>/studies``."""
    from pipeline.demo import DEFAULT_WORLD, DemoSettings
    from pipeline.study_stores import study_store_for

    if name not in STUDIES:
        raise click.ClickException(f"unknown study {name!r}; known: {', '.join(sorted(STUDIES))}, temporal, paper")
    variants = STUDIES[name]
    settings = {w: DemoSettings(world=w, work_dir=world_work_dir(work_dir, w, world), train_frames=train_frames,
                                test_frames=test_frames, detector_epochs=detector_epochs, lift_epochs=lift_epochs)
                for w in {v.world for v in variants.values()}}
    out_dir = world_work_dir(work_dir, world or DEFAULT_WORLD, world) / "studies"
    stores = {(v.world, v.store): study_store_for(settings[v.world], v.store) for v in variants.values()}

    def record(label: str, seed: int, train_missing: bool = True) -> dict | None:
        v = variants[label]
        store_path, store_key = stores[(v.world, v.store)]
        work = settings[v.world].work_dir
        tag = "" if v.store == "demo" else f"-{v.store}"
        own_seed = seed == _config_seed(v.config)  # the demo's own model at its config's seed shares its record
        name = record_name(v.config, v.overrides, None if own_seed else seed) + tag
        rec = train_and_record(name, v.config, store_path, work, store_key, epochs=lift_epochs, seed=seed,
                               overrides=v.overrides or None, train_missing=train_missing)
        if rec is not None and v.eval_overrides:
            rec = rescore_record(rec, name, v, store_path, work, train_missing)
        return None if rec is None else {**rec, "seed": seed}

    for seed in seeds:
        for label in variants:
            echo(f"study {name}", f"{label}, seed {seed}")
            record(label, seed)
    # every seed the ledger holds for these variants (other processes' included), none trained here
    runs = {label: [r for s in range(max([*seeds, 9]) + 1) if (r := record(label, s, train_missing=False))]
            for label in variants}
    all_seeds = sorted({s for records in runs.values() for s in (r["seed"] for r in records)})
    summary = summarise(runs)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = format_study(name, summary)
    extra = {}
    if name == "flip":  # why the study exists: how far mirrored maps are from the detector's
        from pipeline.flip_gap import flip_map_gap

        extra["_map_gap"] = flip_map_gap(stores[("limbs", "demo")][0])
        table += "\n\nRelative L2 of mirrored maps vs the detector's maps of the mirrored crop (64 frames), per level " \
                 "(stride 4 -> 32): " + ", ".join(f"{g['mirrored_vs_extracted']:.0%}" for g in extra["_map_gap"].values()) \
                 + "; two different frames' maps: " + ", ".join(f"{g['another_frame']:.0%}" for g in extra["_map_gap"].values())
    stores_note = ", ".join(sorted({Path(p).name for p, _ in stores.values()}))
    (out_dir / f"{name}.json").write_text(json.dumps(
        {**summary, **extra, "_settings": {"seeds": list(all_seeds), "lift_epochs": lift_epochs, "stores": stores_note}},
        indent=2))
    (out_dir / f"{name}.md").write_text(
        f"# Study `{name}` ({len(all_seeds)} seeds each: mean ± std, ddof 1)\n\nStores: {stores_note}. "
        f"Synthetic data: `make demo`'s world(s), the demo's lifter width and schedule.\n\n{table}\n")
    click.echo(table)
    click.echo(f"[ablate] study {name}: {out_dir / (name + '.json')}, {out_dir / (name + '.md')}")
    return summary
