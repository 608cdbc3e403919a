"""Defaults come from configs/ only; unknown keys are refused by name with the nearest known one."""

from __future__ import annotations

import pytest

from stages.extract.settings import extract_settings
from stages.lift.settings import lift_settings
from stages.settings import ConfigError, load_defaults

EXTRACT = {"detector": {"config": "configs/detectors/hrnet_slim_128x96.py"}, "dataset": {"type": "h36m"}}


def test_a_lift_config_without_the_base_trains_the_base_recipe():
    base = load_defaults("configs/lift/capf_base.py")
    settings = lift_settings({"train": {"epochs": 3}})
    assert settings["train"] == {**base["train"], "epochs": 3}
    assert settings["eval"] == base["eval"] and settings["data"] == base["data"]
    assert settings["model"] == base["model"]


@pytest.mark.parametrize("cfg, message", [
    ({"train": {"lr_deacy": 0.9}}, "unknown config key train.'lr_deacy'; the nearest known key is train.'lr_decay'"),
    ({"model": {"contxt": "none"}}, "model.'contxt'; the nearest known key is model.'context'"),
    ({"trian": {}}, "unknown config key 'trian'; the nearest known key is 'train'"),
    ({"cache": {"dtpye": "int8"}, **EXTRACT}, "unknown config key cache.'dtpye'; the nearest known key is cache.'dtype'"),
])
def test_unknown_keys_are_refused_with_the_nearest_known_one(cfg, message):
    check = extract_settings if "cache" in cfg else lift_settings
    with pytest.raises(ConfigError) as error:
        check(cfg)
    assert message in str(error.value)


def test_cache_dtype_is_a_known_key_now_and_a_misspelt_one_is_refused_in_a_lift_config_too():
    assert extract_settings({**EXTRACT, "cache": {"dtype": "int8"}})["cache"]["dtype"] == "int8"
    with pytest.raises(ConfigError, match=r"cache.'dtpye'"):
        lift_settings({**EXTRACT, "cache": {"dtpye": "int8"}})


def test_extract_sections_are_completed_from_the_defaults_file():
    defaults = load_defaults("configs/extract/defaults.py")
    settings = extract_settings(EXTRACT)
    assert settings["cache"] == defaults["cache"] and settings["runtime"] == defaults["runtime"]
    assert settings["dataset"] == defaults["datasets"]["h36m"]
    assert settings["detector"]["seed"] == 0 and settings["kp2d"]["source"] == "detector"
    with pytest.raises(ConfigError, match=r"dataset \(type='h36m'\).'annotations'.*'annotation'"):
        extract_settings({**EXTRACT, "dataset": {"type": "h36m", "annotations": "x.npz"}})
    with pytest.raises(ConfigError, match="kp2d.file"):
        extract_settings({**EXTRACT, "kp2d": {"source": "external"}})


def test_a_retired_key_in_an_older_run_config_is_dropped_and_a_typo_still_refused():
    """A run dir's config.py records every key of its day: a checkpoint trained before a key was
    retired still loads, while a near-miss of a live key stays an error."""
    settings = lift_settings({"train": {"window_chunk": 32, "epochs": 3}})
    assert "window_chunk" not in settings["train"] and settings["train"]["epochs"] == 3
    with pytest.raises(ConfigError, match="window_chunks"):
        lift_settings({"train": {"window_chunks": 32}})
