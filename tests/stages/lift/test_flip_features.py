"""flip_features: a mirrored batch reads the store's feat_flip maps ('extracted') or mirrors its maps
('mirrored'); 'auto' picks by the store; 'extracted' on a store without them stops first (issue 9)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cache.store import FeatureStore, StoreError
from stages.lift.augment import FlipGeometry, flip_feature_maps, resolve_flip_features
from stages.lift.build import build_lifter, geometry_from_store
from stages.lift.dataset import BatchRequest, CacheBatchDataset, select_frames
from stages.lift.evaluate import evaluate
from stages.lift.settings import lift_settings
from stages.lift.train import TrainRequest, train
from stages.settings import ConfigError
from tests.helpers import write_config
from tests.stages.lift.lift_stores import add_flip_maps, make_store, tiny_config


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Three stores of the same frames: no flip maps, poisoned flip maps (x100 and shifted), and flip
    maps that equal the exact sub-cell mirror of the maps (what 'mirrored' computes)."""
    root = tmp_path_factory.mktemp("flipstores")
    plain = make_store(root / "plain.zarr", num_frames=32, shard_frames=8)
    poisoned = root / "poisoned.zarr"
    shutil.copytree(plain.path, poisoned)
    add_flip_maps(poisoned, lambda name, maps: 100.0 * maps + 50.0)
    exact = root / "exact.zarr"
    shutil.copytree(plain.path, exact)
    model = build_lifter(lift_settings(tiny_config()), geometry_from_store(lift_settings(tiny_config()), plain))
    geometry = FlipGeometry.of(model)
    add_flip_maps(exact, lambda name, maps: flip_feature_maps([torch.from_numpy(maps)], FlipGeometry(
        (geometry.level_strides[int(name)],), geometry.input_size_wh, geometry.ref_convention))[0].numpy())
    return {"plain": plain.path, "poisoned": poisoned, "exact": exact}


def test_auto_takes_the_flip_maps_only_when_the_store_has_them(stores):
    assert resolve_flip_features("auto", FeatureStore.open(stores["plain"])) == "mirrored"
    assert resolve_flip_features("auto", FeatureStore.open(stores["poisoned"])) == "extracted"
    assert resolve_flip_features("mirrored", FeatureStore.open(stores["poisoned"])) == "mirrored"
    with pytest.raises(StoreError) as error:
        resolve_flip_features("extracted", FeatureStore.open(stores["plain"]))
    message = str(error.value)
    assert str(stores["plain"]) in message and "capf extract --flip" in message and "\n" not in message
    with pytest.raises(ConfigError):
        resolve_flip_features("both", FeatureStore.open(stores["plain"]))


@pytest.mark.parametrize("in_memory", [False, True])
def test_a_batch_reads_only_the_map_set_it_asks_for(stores, in_memory):
    store = FeatureStore.open(stores["poisoned"])
    frames = select_frames(store, None)
    dataset = CacheBatchDataset(store.path, frames, ["0", "1"], flip_maps=True, in_memory=in_memory)
    positions = np.array([1, 5, 9])
    plain = dataset[positions]
    assert "feats_flip" not in plain and len(plain["feats"]) == 2
    flipped = dataset[BatchRequest(positions, ("feat_flip",))]
    assert flipped["feats"] == [] and len(flipped["feats_flip"]) == 2
    both = dataset[BatchRequest(positions, ("feat", "feat_flip"))]
    for level in ("0", "1"):
        expected_flip = store.read(f"feat_flip/{level}")[frames[positions]]
        np.testing.assert_array_equal(flipped["feats_flip"][int(level)].numpy(), expected_flip)
        np.testing.assert_array_equal(both["feats_flip"][int(level)].numpy(), expected_flip)
        np.testing.assert_array_equal(both["feats"][int(level)].numpy(), plain["feats"][int(level)].numpy())
    without = CacheBatchDataset(store.path, frames, ["0", "1"])
    with pytest.raises(StoreError):
        without[BatchRequest(positions, ("feat_flip",))]


def _train_weights(store_path, tmp_path, name, **train_keys) -> dict:
    cfg = tiny_config(train=dict(epochs=1, **train_keys), eval=dict(after_train=False, flip_test=False))
    result = train(TrainRequest(cfg=cfg, store_path=store_path, work_root=tmp_path / name, max_iters=3,
                                progress=False))
    return torch.load(result.last_checkpoint, weights_only=False)["state_dict"]


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_extracted_training_reads_feat_flip_exactly_on_mirrored_batches(stores, tmp_path):
    """Poisoned flip maps change training only when batches are mirrored with 'extracted'; 'mirrored'
    on a store with flip maps is bit for bit the run on a store without them."""
    always = dict(flip_aug=True, flip_prob=1.0)
    extracted = _train_weights(stores["poisoned"], tmp_path, "x", flip_features="extracted", **always)
    mirrored = _train_weights(stores["poisoned"], tmp_path, "m", flip_features="mirrored", **always)
    today = _train_weights(stores["plain"], tmp_path, "p", flip_features="auto", **always)
    assert _same(mirrored, today) and not _same(extracted, mirrored)
    never = dict(flip_aug=False)
    assert _same(_train_weights(stores["poisoned"], tmp_path, "xn", flip_features="extracted", **never),
                 _train_weights(stores["plain"], tmp_path, "pn", flip_features="mirrored", **never))


def test_flip_test_with_extracted_maps_matches_mirrored_when_they_are_the_mirror(stores):
    """Flip maps equal to the exact mirror of the maps: the extracted flip test must give the mirrored
    one's predictions (same reference points, label swap and un-mirroring); poisoned ones must not."""
    cfg = lift_settings(tiny_config())
    results = {}
    for name, mode in (("exact", "extracted"), ("exact", "mirrored"), ("poisoned", "extracted")):
        store = FeatureStore.open(stores[name])
        torch.manual_seed(0)
        model = build_lifter(cfg, geometry_from_store(cfg, store)).eval()
        frames = select_frames(store, ["S9"])
        dataset = CacheBatchDataset(store.path, frames, ["0", "1"], flip_maps=mode == "extracted")
        result = evaluate(model, dataset, device=torch.device("cpu"), batch_size=8, workers=0, flip_test=True,
                          flip_features=mode, ranks=None)
        assert result.metrics["flip_features"] == mode
        results[(name, mode)] = result.pred_mm
    np.testing.assert_allclose(results[("exact", "extracted")], results[("exact", "mirrored")], atol=0.5)
    assert np.abs(results[("poisoned", "extracted")] - results[("exact", "mirrored")]).max() > 1.0


def test_extracted_on_a_store_without_flip_maps_exits_with_one_line(stores, tmp_path):
    from pipeline.cli import main

    config = write_config(tmp_path / "lift.py", tiny_config(train=dict(flip_features="extracted")))
    result = CliRunner().invoke(main, ["train", "--config", str(config), "--store", str(stores["plain"]),
                                       "--work-dir", str(tmp_path / "runs"), "--quiet"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "capf extract --flip" in lines[0] and str(stores["plain"]) in lines[0], result.output
    assert not (tmp_path / "runs").exists()


def test_int8_flip_codes_are_dequantised_after_the_copy(tmp_path):
    """An int8 store's flip maps travel as codes + scales like the others and are dequantised in
    ``to_device`` (the GPU path), to what the loader's own dequantisation gives."""
    from stages.lift.dataset import to_device

    store = make_store(tmp_path / "int8.zarr", num_frames=16, shard_frames=8, feature_dtype="int8")
    add_flip_maps(store.path, lambda name, maps: -2.0 * maps + 1.0)
    frames = select_frames(FeatureStore.open(store.path), None)
    request = BatchRequest(np.array([0, 3, 9]), ("feat", "feat_flip"))
    codes = CacheBatchDataset(store.path, frames, ["0", "1"], flip_maps=True, dequantize=False)[request]
    assert codes["feats_flip"][0].dtype == torch.uint8 and len(codes["feat_flip_scales"]) == 2
    moved = to_device(codes, torch.device("cpu"))
    loaded = CacheBatchDataset(store.path, frames, ["0", "1"], flip_maps=True, dequantize=True)[request]
    for level in range(2):
        torch.testing.assert_close(moved["feats_flip"][level].float(), loaded["feats_flip"][level].float())
        torch.testing.assert_close(moved["feats"][level].float(), loaded["feats"][level].float())
        # the flip maps are -2x + 1 of the maps: another set was read
        assert not torch.allclose(moved["feats_flip"][level].float(), moved["feats"][level].float())
    assert "feat_flip_scales" not in moved


@pytest.mark.slow
def test_a_resumed_extracted_run_reads_the_same_flip_maps(stores, tmp_path):
    """Stopped mid-epoch and resumed, the sampler asks for feat_flip on the very batches the loop
    mirrors (the loop checks it) and the run ends with the uninterrupted run's weights."""
    cfg = tiny_config(train=dict(epochs=2, flip_features="extracted"), eval=dict(after_train=False, flip_test=False))
    whole = train(TrainRequest(cfg=cfg, store_path=stores["poisoned"], work_root=tmp_path / "a", progress=False))
    stopped = train(TrainRequest(cfg=cfg, store_path=stores["poisoned"], work_root=tmp_path / "b", max_iters=6,
                                 progress=False))
    resumed = train(TrainRequest(cfg=cfg, store_path=stores["poisoned"], work_root=tmp_path / "b",
                                 resume=stopped.run_dir, progress=False))
    assert resumed.iterations == whole.iterations == 8
    load = lambda path: torch.load(path, weights_only=False)["state_dict"]  # noqa: E731
    assert _same(load(whole.last_checkpoint), load(resumed.last_checkpoint))


@pytest.mark.slow
def test_eval_with_extracted_on_a_store_without_flip_maps_stops_before_predicting(stores, tmp_path):
    from stages.lift.evaluate import evaluate_checkpoint

    cfg = tiny_config(eval=dict(after_train=False))
    run = train(TrainRequest(cfg=cfg, store_path=stores["plain"], work_root=tmp_path, max_iters=1, progress=False))
    extracted = tiny_config(eval=dict(flip_features="extracted"))
    with pytest.raises(StoreError, match="capf extract --flip"):
        evaluate_checkpoint(extracted, run.last_checkpoint, stores["plain"], out_dir=tmp_path / "eval")
    assert not (tmp_path / "eval").exists()
    done = evaluate_checkpoint(extracted, run.last_checkpoint, stores["poisoned"], out_dir=tmp_path / "eval2")
    assert done.metrics["flip_features"] == "extracted"
