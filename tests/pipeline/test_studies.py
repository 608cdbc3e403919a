"""The seeded studies' pieces: variants as config overrides, one record per variant, mean ± std."""

import math

import pytest

from pipeline.model_records import merge_overrides, record_name
from pipeline.studies import STUDIES, format_study, summarise, world_work_dir


def test_overrides_merge_into_nested_sections_without_touching_the_rest():
    cfg = {"train": {"lr": 1e-3, "flip_aug": True}, "model": {"context": "deformable"}}
    merged = merge_overrides(cfg, {"train": {"flip_aug": False}, "eval": {"flip_test": False}})
    assert merged == {"train": {"lr": 1e-3, "flip_aug": False}, "model": {"context": "deformable"},
                      "eval": {"flip_test": False}}
    assert cfg["train"]["flip_aug"] is True  # the loaded config is not mutated


def test_record_names_share_a_variant_across_studies_and_tell_variants_apart():
    full = "configs/demo/step3_full.py"
    assert record_name(full) == "step3_full"  # the demo's own model
    assert record_name(full, None, 2) == "step3_full_seed2"
    off = record_name(full, {"train": {"flip_aug": False}}, 1)
    assert off.startswith("step3_full-") and off.endswith("_seed1") and off != record_name(full, {"train": {}}, 1)


def test_every_study_variant_names_an_existing_config_and_store_kind():
    from pathlib import Path

    from pipeline.study_stores import STORE_KINDS

    for study, variants in STUDIES.items():
        for label, variant in variants.items():
            assert Path(variant.config).is_file(), (study, label)
            assert variant.store in STORE_KINDS and variant.world in ("limbs", "clothing"), (study, label)


def test_summary_is_mean_and_sample_std_over_seeds_and_the_table_shows_them():
    runs = {"a": [{"mpjpe": 100.0, "p_mpjpe": 80.0, "seed": 0, "run_dir": "r0"},
                  {"mpjpe": 110.0, "p_mpjpe": 84.0, "seed": 1, "run_dir": "r1"}],
            "b": [{"mpjpe": 90.0, "p_mpjpe": 70.0, "seed": 0, "run_dir": "r2"}]}
    summary = summarise(runs)
    assert summary["a"]["mean"] == 105.0 and summary["a"]["std"] == pytest.approx(math.sqrt(50.0))
    assert summary["a"]["p_mpjpe_mean"] == 82.0 and summary["b"]["std"] == 0.0
    table = format_study("x", summary)
    assert "| a | 2 | 105.0 ± 7.1 | 82.0 ± 2.8 | +0.0 | 100.0, 110.0 |" in table
    assert "| b | 1 | 90.0 ± 0.0 | 70.0 ± 0.0 | -15.0 | 90.0 |" in table


def test_each_world_of_a_study_has_its_own_work_dir(tmp_path):
    from pathlib import Path

    assert world_work_dir(None, "clothing") == Path("work_dirs/demo")  # the default world (the world study)
    assert world_work_dir(None, "limbs") == Path("work_dirs/demo_limbs")
    assert world_work_dir(tmp_path / "d", "limbs") == Path(f"{tmp_path / 'd'}_limbs")
    assert world_work_dir(tmp_path / "d", "limbs", anchor="limbs") == tmp_path / "d"  # `--world limbs --work-dir d`
    assert world_work_dir(tmp_path / "d", "clothing", anchor="limbs") == Path(f"{tmp_path / 'd'}_clothing")


def test_flip_map_gap_is_zero_for_exactly_mirrored_flip_maps_and_large_for_others(tmp_path):
    """feat_flip = the sub-cell mirror of feat: the gap is ~0; feat_flip = another frame's mirror: it is not."""
    import numpy as np
    import torch

    from pipeline.flip_gap import flip_map_gap
    from stages.lift.augment import FlipGeometry, flip_feature_maps
    from tests.stages.lift.lift_stores import make_store
    from tests.stages.lift.test_flip_features import add_flip_maps

    plain = make_store(tmp_path / "plain.zarr", num_frames=16, shard_frames=8)
    strides = {lv.name: lv.stride for lv in plain.levels}

    def mirror(name: str, maps: np.ndarray) -> np.ndarray:
        geometry = FlipGeometry((strides[name],), tuple(plain.spec.input_size_wh))
        return flip_feature_maps([torch.from_numpy(maps)], geometry)[0].numpy()

    exact = add_flip_maps(plain.path, mirror)
    gap = flip_map_gap(exact.path, num_frames=16)
    assert all(g["mirrored_vs_extracted"] < 1e-2 < g["another_frame"] for g in gap.values()), gap
