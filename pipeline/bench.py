"""`make bench`: speed and size figures as ratios measured in one run, so machine noise cancels.

Every figure pairs the thing measured with its ideal on the same data in the same process:
- extract_vs_forward: extraction end to end (decode, crop, forward, zarr writes) / the detector's
  forward alone, timed around each forward call of that very run (same batches, threads, warm-up:
  <= 1 by construction; target >= 0.9);
- live_latency_ms, live_vs_detector: ``capf live``'s per-stage p50/p95 at batch 1 and its frame time
  / the detector's forward alone on the same frames, interleaved (stages/live/bench.py);
- loader_vs_memory[w]: lifter training samples/s reading lazily from the cache with w loader workers
  / the same model fed from tensors already in memory (target >= 0.9);
- cache_read_vs_memmap[reader]: random sorted batches read from the store / from a raw memory-mapped
  fp16 array of the same data;
- bytes_per_frame_ratio[codec]: bytes per frame on disk / raw fp16 bytes per frame (fp16 and int8);
- loader_vs_memory_unverified[w]: the same as loader_vs_memory with the crc32c check off;
- cache_vs_online_backbone: lifter training samples/s from the cache / with the frozen HRNet-W32
  run on decoded crops every step (pipeline/bench_online.py);
- crc32c_gbps: the two crc32c implementations on W32 frames (the reader uses the faster);
- params and flops_per_frame of the full model with HRNet-W32 levels (paper: 609.9 M);
- onnx_vs_torch_lifter: the full CA-PF (HRNet-W32 levels) per frame on the CPU, onnxruntime on its
  `capf export` graph / torch, same threads, same batch (stages/export/onnx_export.py).
`--scale N` measures an N-frame store instead (pipeline/bench_scale.py, bench/scale.json).
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from cache.key import KeyInputs
from cache.store import FeatureStore, LevelSpec, StoreSpec, copy_store, create_store
from stages.distributed import resolve_device
from pipeline.h36m_sample import SHARED_DATA, replicate_h36m_sample

W32_CONFIG = "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py"
W32_LEVELS = (LevelSpec("0", 4, 32, 64, 48), LevelSpec("1", 8, 64, 32, 24),
              LevelSpec("2", 16, 128, 16, 12), LevelSpec("3", 32, 256, 8, 6))
PAPER_FLOPS = 609.9e6


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _extract_config(frames: int, batch_size: int, workers: int, shard_frames: int) -> dict:
    return {"detector": {"name": "hrnet_w32", "config": W32_CONFIG, "seed": 0},
            "dataset": {"type": "h36m", "name": "bench"},
            "cache": {"shard_frames": shard_frames, "compression": "none"},
            "runtime": {"batch_size": batch_size, "num_workers": workers}}


def bench_extraction(work: Path, *, frames: int, batch_size: int, workers: int, device: str) -> dict:
    """End-to-end extraction vs the forward alone, on `frames` real Human3.6M frames (random-init W32)."""
    from stages.detector.topdown import TopdownDetector
    from stages.extract.runner import ExtractRequest, run_extraction
    from stages.extract.sources import build_source, load_frame

    data = replicate_h36m_sample(SHARED_DATA / "h36m", work / "frames", repeats=max(1, frames // 4))
    cfg = _extract_config(frames, batch_size, workers, shard_frames=batch_size * 2)
    detector = TopdownDetector(W32_CONFIG, None, random_init=True, device=device)
    index = build_source(cfg["dataset"], data).frame_index()
    batches = []
    for start in range(0, len(index), batch_size):
        packed = [detector.crop(load_frame(index.root, index.image_names[i]), index.bboxes_xyxy[i])
                  for i in range(start, min(start + batch_size, len(index)))]
        batches.append({"inputs": [p["inputs"] for p in packed], "data_samples": [p["data_samples"] for p in packed]})

    result = run_extraction(ExtractRequest(cfg, data, work / "cache", random_init=True, device=device,
                                           progress=False))
    # The forward alone is the run's own forward: the same batches, threads, warm-up and process,
    # timed around each `detector.forward` call inside the loop; end to end is the loop's wall time,
    # which contains those calls, so the ratio cannot exceed 1.
    e2e = result.frames_written / result.loop_seconds
    forward = result.frames_written / result.detector_seconds
    tick = time.perf_counter()
    for batch in batches:  # the same batches on their own after the run (reported, not the ratio's)
        detector.forward(batch)
    isolated = len(index) / (time.perf_counter() - tick)
    crops = [{"inputs": i, "data_samples": d} for b in batches for i, d in zip(b["inputs"], b["data_samples"])]
    return {"store": result.path, "extract_fps": e2e, "forward_fps": forward, "ratio": e2e / forward,
            "forward_isolated_fps": isolated, "detector": detector, "crops": crops}


def bytes_per_frame(store_path: Path, work: Path) -> dict:
    """Feature bytes per frame (fp16 and int8, uncompressed and blosc-zstd rewrites of the same real
    features; int8 counts its scales) / raw fp16 bytes per frame."""
    store = FeatureStore.open(store_path)
    raw = sum(lv.channels * lv.height * lv.width * 2 for lv in store.levels)
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for dtype in ("float16", "int8"):
        for codec in ("none", "blosc-zstd"):
            path = work / f"bytes-{dtype}-{codec}.zarr"
            copy_store(store, path, compression=codec, feature_dtype=dtype)
            feat_bytes = sum(f.stat().st_size for folder in ("feat", "feat_scale")
                             for f in (path / folder).rglob("*") if f.is_file())
            out[codec if dtype == "float16" else f"int8-{codec}"] = feat_bytes / store.num_frames / raw
    return out


def _bench_key(frames: int) -> KeyInputs:
    return KeyInputs("bench", "0" * 64, frames, "0" * 64, "random", (192, 256), "detector")


def synthetic_w32_store(path: Path, frames: int, shard_frames: int = 256, seed: int = 0,
                        feature_dtype: str = "float16", progress: bool = False) -> Path:
    """A complete store of HRNet-W32 shapes filled with random values (read speed does not depend on
    the values), with 2D inputs and 3D targets a lifter can train on.

    One random shard's maps serve every shard, so every full shard's feature files are the same
    bytes: zarr encodes the first one and the others are file copies of it (zarr-python needs ~10 s
    per 256-frame W32 shard on 2 cores, which would make N = 100k take an hour). The per-frame
    arrays are written through zarr for every shard; the result is an ordinary store (tested)."""
    from tqdm import tqdm

    spec = StoreSpec(frames, shard_frames, W32_LEVELS, 17, "h36m17", input_size_wh=(192, 256),
                     feature_dtype=feature_dtype)
    rng = np.random.default_rng(seed)
    gt3d = rng.normal(0, 300, (frames, 17, 3)).astype(np.float32) + [0, 0, 5000]
    static = {"bbox": np.tile(np.float32([0, 0, 1000, 1000]), (frames, 1)),
              "image_size": np.tile(np.int32([1000, 1000]), (frames, 1)), "gt3d": gt3d}
    create_store(path, spec, _bench_key(frames), static,
                 {"subject": (np.zeros(frames, np.int32), ["S1"]), "action": (np.zeros(frames, np.int32), ["Walking"])},
                 {})
    store = FeatureStore.open(path, mode="r+", allow_incomplete=True)
    maps = {f"feat/{lv.name}": rng.standard_normal((shard_frames, lv.channels, lv.height, lv.width), np.float32)
            .astype(np.float16) for lv in W32_LEVELS}
    feature_files = [f"{prefix}/{lv.name}" for prefix in ("feat", "feat_scale") for lv in W32_LEVELS
                     if store.has(f"{prefix}/{lv.name}")]
    for shard in tqdm(range(spec.num_shards), desc=f"write {path.name}", unit="shard", disable=not progress):
        start, stop = spec.shard_bounds(shard)
        n = stop - start
        kp = rng.uniform(100, 900, (n, 17, 2)).astype(np.float32)
        small = dict(kp2d=kp, kp2d_input=kp * 0.2, score=np.ones((n, 17), np.float32), det_kp2d=kp,
                     affine=np.tile(np.float32([[0.2, 0, 0], [0, 0.2, 0]]), (n, 1, 1)))
        if shard == 0 or n < shard_frames:
            store.write_shard(shard, {**{name: block[:n] for name, block in maps.items()}, **small})
            continue
        for name in feature_files:  # the same bytes zarr wrote for shard 0
            tail = "/0" * 3 if name.startswith("feat/") else "/0" * 2
            target = path / name / "c" / f"{shard}{tail}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path / name / "c" / f"0{tail}", target)
        for name, values in small.items():
            store.group[name][start:stop] = values
        store.group["done"][shard] = True
    store.mark_complete_if_done()
    return path


def _random_batches(frames: int, batch: int, count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(frames, size=min(batch, frames), replace=False)) for _ in range(count)]


def bench_cache_reads(store_path: Path, work: Path, *, batch: int, batches: int) -> dict:
    """Random sorted batches of all four levels: each reader vs a raw np.memmap of the same data.

    Every reader is timed in the state a training epoch after the first one meets it: each reader
    (the memmap too) reads every frame once first, so files are mapped, pages resident and, for the
    verified shard reader, every chunk's crc32c already checked (the check is paid once per chunk
    per run); the readers then take turns batch by batch, so load on a shared machine hits all alike.
    The first pass is measured on its own (``first_read_*``): fresh verified and unverified readers,
    interleaved, where the verified one computes the crc32c of every chunk it meets (about a
    third of a cold read of W32 frames here: the 36 % the shard reader lost when the check arrived
    came from timing batches that were mostly first reads)."""
    store = FeatureStore.open(store_path)
    names = [f"feat/{lv.name}" for lv in store.levels]
    work.mkdir(parents=True, exist_ok=True)
    memmaps = []
    for name in names:
        array = store.group[name]
        mm = np.lib.format.open_memmap(work / f"{name.replace('/', '_')}.npy", mode="w+", dtype=np.float16,
                                       shape=array.shape)
        for start in range(0, array.shape[0], store.spec.shard_frames):
            mm[start:start + store.spec.shard_frames] = array[start:start + store.spec.shard_frames]
        mm.flush()
        memmaps.append(np.load(work / f"{name.replace('/', '_')}.npy", mmap_mode="r"))
    plan = _random_batches(store.num_frames, batch, batches)
    everything = [np.arange(s, min(s + store.spec.shard_frames, store.num_frames))
                  for s in range(0, store.num_frames, store.spec.shard_frames)]

    def memmap_batch(frames):
        for mm in memmaps:
            np.take(mm, frames, axis=0)

    def readers_batch(kind: str, verify: bool = True):
        readers = [store.reader(lv.name, kind, verify=verify) for lv in store.levels]
        return lambda frames: [r.read(frames) for r in readers]

    def interleaved(read_batches: dict, plan_batches: list) -> dict[str, float]:
        """Frames/s of each reader over the same batches, taking turns; the order rotates from batch to
        batch, so no reader always follows the same other one (the page-cache and CPU-cache state a
        reader meets depends on what ran before it)."""
        seconds = dict.fromkeys(read_batches, 0.0)
        names = list(read_batches)
        for i, frames in enumerate(plan_batches):
            for name in names[i % len(names):] + names[:i % len(names)]:
                tick = time.perf_counter()
                read_batches[name](frames)
                seconds[name] += time.perf_counter() - tick
        return {name: sum(len(f) for f in plan_batches) / s for name, s in seconds.items()}

    steady = {"memmap": memmap_batch, "mmap": readers_batch("mmap"),
              "mmap_unverified": readers_batch("mmap", verify=False), "tensorstore": readers_batch("tensorstore")}
    for read_batch in steady.values():
        for block in everything:  # the first pass: every frame once
            read_batch(block)
    result = {f"{name}_fps": fps for name, fps in interleaved(steady, plan).items()}
    zarr_batch = readers_batch("zarr")
    zarr_batch(plan[0][:1])
    result["zarr_fps"] = interleaved({"zarr": zarr_batch}, plan[:1])["zarr"]
    first = interleaved({"mmap": readers_batch("mmap"), "mmap_unverified": readers_batch("mmap", verify=False)}, plan)
    result.update(mmap_first_read_fps=first["mmap"], mmap_unverified_first_read_fps=first["mmap_unverified"])
    kinds = ("mmap", "mmap_unverified", "tensorstore", "zarr")
    return {"absolute": result,
            "ratios": {kind: result[f"{kind}_fps"] / result["memmap_fps"] for kind in kinds},
            "verified_vs_unverified": result["mmap_fps"] / result["mmap_unverified_fps"],
            "first_read_verified_vs_unverified": first["mmap"] / first["mmap_unverified"]}


class _TrainingStep:
    """The full model with the base config's optimizer and AMP, stepped by ``runtime.train_step``
    (the function `capf train` calls), mirroring every other pair of batches as the p = 0.5 flip
    would: the in-memory and the lazy step of a pair are timed with the same flip state."""

    def __init__(self, device: torch.device):
        from stages.lift.augment import FlipGeometry
        from stages.lift.model import ContextAwarePoseFormer
        from stages.lift.runtime import build_optimizer, resolve_amp
        from stages.lift.settings import lift_settings

        train_cfg = lift_settings({})["train"]
        torch.manual_seed(0)
        self.device = device
        self.model = ContextAwarePoseFormer().to(device)
        self.amp = resolve_amp(train_cfg["amp"], device)
        self.optimizer, _, self.scaler = build_optimizer(self.model, train_cfg, self.amp)
        self.flip = FlipGeometry.of(self.model, exact=bool(train_cfg["flip_exact"]))
        self.steps = 0

    def __call__(self, batch: dict) -> None:
        from stages.lift.dataset import to_device
        from stages.lift.runtime import train_step

        train_step(self.model, to_device(batch, self.device), self.optimizer, self.scaler, self.amp, self.device,
                   flip=self.flip if (self.steps // 2) % 2 else None)
        self.steps += 1
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def bench_loader(store_path: Path, *, batch: int, steps: int, workers: tuple[int, ...], device: str,
                 verify: bool = True) -> dict:
    """Training samples/s of the full model reading lazily from the store vs fed from memory
    (``verify``: the lazy reader checks each chunk's crc32c the first time it reads it)."""
    from stages.lift.dataset import CacheBatchDataset, FrameBatchSampler, make_loader

    store = FeatureStore.open(store_path)
    frames = np.arange(store.num_frames)
    names = [lv.name for lv in store.levels]
    step = _TrainingStep(torch.device(device))
    pin = device.startswith("cuda")

    memory_dataset = CacheBatchDataset(store_path, frames, names, in_memory=False)
    sampler = FrameBatchSampler(len(frames), batch, shuffle=True, seed=0, drop_last=True)
    in_memory = [memory_dataset[b] for b in list(sampler)[:steps + 1]]  # read once, then held in RAM
    if pin:
        in_memory = [{k: (v.pin_memory() if isinstance(v, torch.Tensor) else [f.pin_memory() for f in v])
                      for k, v in b.items()} for b in in_memory]

    def paired(lazy_batches) -> tuple[float, float]:
        """Alternate one in-memory step and one lazy step, so machine noise hits both alike."""
        lazy_iter = iter(lazy_batches)
        step(next(lazy_iter))  # warm-up: worker start, shard maps
        step(in_memory[0])
        memory_time = lazy_time = 0.0
        seen = 0
        if len(in_memory) < steps + 1:
            raise ValueError(f"{store_path}: {store.num_frames} frames make fewer than {steps + 1} batches of {batch}")
        for b in in_memory[1:steps + 1]:
            tick = time.perf_counter()
            step(b)
            memory_time += time.perf_counter() - tick
            tick = time.perf_counter()
            step(next(lazy_iter))  # includes waiting for the loader
            lazy_time += time.perf_counter() - tick
            seen += len(b["pose2d"])
        return seen / memory_time, seen / lazy_time

    out = {"memory_sps": {}, "lazy_sps": {}, "ratio": {}}
    for count in workers:
        lazy = CacheBatchDataset(store_path, frames, names, in_memory=False, verify=verify)
        memory_sps, lazy_sps = paired(make_loader(lazy, sampler, workers=count, pin_memory=pin))
        out["memory_sps"][str(count)] = memory_sps
        out["lazy_sps"][str(count)] = lazy_sps
        out["ratio"][str(count)] = lazy_sps / memory_sps
    return out


def bench_live(*, quick: bool, device: str, demo_dir: Path) -> dict:
    """``live_latency_ms`` (per stage, batch 1) and ``live_vs_detector`` for the paper-size models
    (HRNet-W32 and the full CA-PF, random init, flip test on) on the real football clip, and for the
    demo's slim models on the demo's clip when ``demo_dir`` holds a finished demo. Boxes come from the
    2D detector's bootstrap with every joint counting (``kpt_thr=0``): the person is followed in every
    frame, so the figures time the pipeline, not how often a weak detector loses the person."""
    from stages.detector.topdown import TopdownDetector
    from stages.infer.lifting import Lifter
    from stages.lift.build import LevelGeometry
    from stages.lift.model import ContextAwarePoseFormer
    from stages.lift.runtime import resolve_amp
    from stages.lift.settings import lift_settings
    from stages.live.bench import measure_live_latency

    frames, warmup = (3, 1) if quick else (24, 2)
    torch_device = torch.device(device)
    cfg = lift_settings({})
    detector = TopdownDetector(W32_CONFIG, None, random_init=True, device=device)
    torch.manual_seed(0)
    model = ContextAwarePoseFormer().to(torch_device).eval()
    lifter = Lifter(model, LevelGeometry(detector.levels, detector.input_size_wh), torch_device, 1, True,
                    resolve_amp(cfg["train"]["amp"], torch_device), "h36m", cfg)
    football = SHARED_DATA / "video" / "football_5frames.mp4"
    out = {"hrnet_w32+capf": measure_live_latency(detector, lifter, football, frames=frames, warmup=warmup)}
    if (Path(demo_dir) / "summary.json").is_file():
        from pipeline.infer import demo_clip, resolve_models
        from stages.live.app import build_live_models

        models = resolve_models(ckpt=None, lift_config=None, detector_config=None, detector_checkpoint=None,
                                random_init=False, demo_dir=Path(demo_dir))
        detector, lifter = build_live_models(models, torch_device)
        try:
            out["demo_slim"] = measure_live_latency(detector, lifter, demo_clip(Path(demo_dir)), frames=frames,
                                                    warmup=warmup)
        except ValueError as error:  # a demo detector trained too briefly may find nobody: no figure, say why
            print(f"live latency of the demo's models skipped: {error}")
    return out


def bench_cost() -> dict:
    from stages.lift.cost import count_cost
    from stages.lift.model import ContextAwarePoseFormer

    cost = count_cost(ContextAwarePoseFormer())
    return {"params": int(cost["params"]), "flops_per_frame": int(cost["flops_per_frame"]),
            "flops_vs_paper": cost["flops_per_frame"] / PAPER_FLOPS}


def bench_onnx_lifter(work: Path, *, quick: bool = False) -> dict:
    """The full CA-PF (random weights, HRNet-W32 levels) through torch and through onnxruntime on the CPU."""
    from stages.export.onnx_export import export_onnx, graph_spec, time_torch_vs_onnx
    from stages.lift.model import ContextAwarePoseFormer

    torch.manual_seed(0)
    model = ContextAwarePoseFormer().eval()
    spec = graph_spec(model)
    path = export_onnx(model, spec, work / "capf_w32.onnx")
    return time_torch_vs_onnx(model, path, spec, batch=4 if quick else 32, repeats=2 if quick else 7,
                              threads=torch.get_num_threads())


def run_bench(work: Path, out_json: Path, *, quick: bool = False, device: str = "auto",
              demo_dir: Path = Path("work_dirs/demo")) -> dict:
    """All figures; `quick` shrinks sizes for a smoke run (the ratios stay meaningful, noisier)."""
    device = str(resolve_device(device))
    work.mkdir(parents=True, exist_ok=True)
    extract = bench_extraction(work / "extract", frames=8 if quick else 128, batch_size=4 if quick else 32,
                               workers=2, device=device)
    ratios = bytes_per_frame(extract["store"], work / "bytes")
    store = synthetic_w32_store(work / "w32.zarr", frames=96 if quick else 2048,
                                shard_frames=32 if quick else 256)
    reads = bench_cache_reads(store, work / "memmap", batch=16 if quick else 512, batches=4 if quick else 9)
    loader_sizes = dict(batch=8 if quick else 512, steps=1 if quick else 3, workers=(1, 2) if quick else (1, 2, 4))
    loader = bench_loader(store, **loader_sizes, device=device)
    unverified = bench_loader(store, **loader_sizes, device=device, verify=False)
    from cache.checksum import measure_crc32c
    from pipeline.bench_online import bench_cache_vs_online

    online = bench_cache_vs_online(extract["store"], extract["crops"], extract["detector"],
                                   batch=8 if quick else (64 if device.startswith("cuda") else 32),
                                   steps=2 if quick else 4, device=device)
    cost = bench_cost()
    live = bench_live(quick=quick, device=device, demo_dir=demo_dir)
    onnx_lifter = bench_onnx_lifter(work / "onnx", quick=quick)
    results = {
        "device": device_name(device),
        "extract_vs_forward": extract["ratio"],
        "loader_vs_memory": loader["ratio"],
        "loader_vs_memory_unverified": unverified["ratio"],
        "cache_vs_online_backbone": online["ratio"],
        "crc32c_gbps": measure_crc32c(),
        "cache_read_vs_memmap": reads["ratios"],
        "verified_vs_unverified_reads": reads["verified_vs_unverified"],
        "first_read_verified_vs_unverified": reads["first_read_verified_vs_unverified"],
        "bytes_per_frame_ratio": ratios,
        "flops_per_frame": cost["flops_per_frame"],
        "params": cost["params"],
        "flops_vs_paper": cost["flops_vs_paper"],
        "live_latency_ms": {name: {"frame": m["frame_ms"], "detector_alone": m["detector_alone_ms"],
                                   **m["stages_ms"]} for name, m in live.items()},
        "live_vs_detector": {name: m["live_vs_detector"] for name, m in live.items()},
        "live_glue_vs_detector": {name: m["glue_vs_detector"] for name, m in live.items()},
        "onnx_vs_torch_lifter": onnx_lifter,
        "absolute": {"extract_fps": extract["extract_fps"], "forward_fps": extract["forward_fps"],
                     "forward_isolated_fps": extract["forward_isolated_fps"],
                     "reads_fps": reads["absolute"], "train_memory_sps": loader["memory_sps"],
                     "train_lazy_sps": loader["lazy_sps"], "train_lazy_unverified_sps": unverified["lazy_sps"],
                     "online_backbone": online},
        "settings": {"quick": quick, "torch": torch.__version__},
    }
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=2, default=str))
    return results


def format_bench_table(results: dict) -> str:
    """The figures a reader compares against targets, one per line."""
    lines = [f"device: {results['device']}", "| figure | ratio | target |", "|---|---|---|",
             f"| extraction end to end / forward alone | {results['extract_vs_forward']:.2f} | >= 0.9 |"]
    for workers, ratio in results["loader_vs_memory"].items():
        unverified = results.get("loader_vs_memory_unverified", {}).get(workers, float("nan"))
        lines.append(f"| training lazy ({workers} workers) / in memory, crc32c check on (off) | {ratio:.2f} "
                     f"({unverified:.2f}) | >= 0.9 |")
    if "cache_vs_online_backbone" in results:
        lines.append(f"| training from the cache / frozen HRNet-W32 run online | "
                     f"{results['cache_vs_online_backbone']:.1f} | report |")
    for reader, ratio in results["cache_read_vs_memmap"].items():
        lines.append(f"| random batch reads, {reader} / raw memmap | {ratio:.3f} | report |")
    if "verified_vs_unverified_reads" in results:
        lines.append(f"| random batch reads, shard reader with crc32c check / without, every chunk read before "
                     f"(first read of each chunk) | {results['verified_vs_unverified_reads']:.2f} "
                     f"({results['first_read_verified_vs_unverified']:.2f}) | >= 0.9 (report) |")
    for codec, ratio in results["bytes_per_frame_ratio"].items():
        lines.append(f"| bytes per frame, {codec} / raw fp16 | {ratio:.3f} | report |")
    for name, ratio in results.get("live_vs_detector", {}).items():
        stages = results["live_latency_ms"][name]
        lines.append(f"| live ({name}), frame p50 / detector forward alone p50, batch 1 | {ratio:.2f} "
                     f"({stages['frame']['p50']:.1f} / {stages['detector_alone']['p50']:.1f} ms; the rest besides "
                     f"boxes and detector: {results['live_glue_vs_detector'][name]:.2f}) | glue <= 0.1 |")
    lines.append(f"| FLOPs per frame / paper's 609.9 M | {results['flops_vs_paper']:.3f} "
                 f"({results['flops_per_frame'] / 1e6:.1f} M, {results['params']:,} params) | 0.9-1.1 |")
    if "onnx_vs_torch_lifter" in results:
        onnx = results["onnx_vs_torch_lifter"]
        lines.append(f"| lifter on the CPU, torch / onnxruntime time per frame | {onnx['onnxruntime_vs_torch_speed']:.2f} "
                     f"({onnx['torch_ms_per_frame']:.2f} / {onnx['onnxruntime_ms_per_frame']:.2f} ms) | report |")
    return "\n".join(lines)
