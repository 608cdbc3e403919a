"""A CAPF lift checkpoint as an ONNX graph, and onnxruntime checked against torch on a store's frames.

The graph is the lifter's own ``forward`` (the one training, evaluation and ``capf infer`` call
through ``stages.lift.runtime.forward_batch``), with its list of per-level tensors spread into named
inputs; batch sizes are dynamic:

* single frame (``ContextAwarePoseFormer``): ``pose2d`` (B, 17, 2) joints normalised as
  ``X / w * 2 - [1, h / w]``, ``ref_px`` (B, 17, 2) the joints in detector-input pixels, and
  ``feat_<l>`` (B, C_l, H_l, W_l) per feature level -> ``kp3d`` (B, 17, 3) root-relative, metres;
  ``context="none"`` (PoseFormer) takes ``pose2d`` only;
* temporal (``ContextAwarePoseFormerS`` or ``PoseFormer`` over T frames): ``pose2d`` (U, 17, 2) of the U distinct frames a
  batch of windows uses, ``window`` (B, T) int64 indices into them (the target frame in the middle)
  and ``joint_feat_<l>`` (U, 17, C_l) -> ``kp3d`` (B, 17, 3) of the B centre frames.

The flip test (the mean with the mirrored input's mirrored-back output) is two calls of the graph,
left to the caller as ``capf eval`` does it. ``grid_sample`` (the deformable sampling) needs opset 16
or later: the export uses 17. Inputs, their shapes and the checkpoint's digest are written beside the
graph as ``<name>.json``.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from stages.export import ExportInputError

OPSET = 17
ONNX_TOLERANCE_M = 1e-4  # what onnxruntime must reproduce torch's output to (0.1 mm)


class _SingleFrameGraph(nn.Module):
    """``forward(pose2d, ref_px, *feats)`` -> ``lifter(pose2d, feats, ref_px)``: named inputs, same math."""

    def __init__(self, lifter: nn.Module):
        super().__init__()
        self.lifter = lifter

    def forward(self, pose2d, ref_px=None, *feats):
        return self.lifter(pose2d, list(feats), ref_px)


class _TemporalGraph(nn.Module):
    """``forward(pose2d, window, *joint_feats)`` -> ``lifter(pose2d, joint_feats, window)``."""

    def __init__(self, lifter: nn.Module):
        super().__init__()
        self.lifter = lifter

    def forward(self, pose2d, window, *joint_feats):
        return self.lifter(pose2d, list(joint_feats), window)


@dataclass
class GraphSpec:
    """What the graph takes: input names in order with their shapes (None: dynamic)."""

    kind: str                       # "single_frame" | "temporal"
    inputs: dict[str, list]         # name -> shape, "B"/"U" for dynamic axes
    frames: int | None = None       # T of a temporal lifter
    meta: dict = field(default_factory=dict)


def load_lifter_checkpoint(path: Path) -> tuple[nn.Module, dict]:
    """(the lifter in eval mode on the CPU, the checkpoint's meta) from a CAPF ``best.pth``: the model
    is rebuilt from the model arguments the checkpoint records, so no config or store is needed."""
    from stages.infer.lifting import LiftCheckpoint
    from stages.lift.checkpoints import load_weights
    from stages.lift.model import build_model

    checkpoint = LiftCheckpoint.load(Path(path))
    kwargs = checkpoint.meta.get("model")
    if not kwargs:
        raise ExportInputError(f"{path}: the checkpoint records no model arguments (meta.model); "
                               "re-save it with `capf train`")
    model = build_model(kwargs)
    load_weights(model, {"state_dict": checkpoint.state_dict}, checkpoint.path)
    return model.eval(), {**checkpoint.meta, "sha256": checkpoint.sha256, "path": str(checkpoint.path)}


def _is_temporal(model: nn.Module) -> bool:
    return hasattr(model, "frames") and hasattr(model, "frame_encoder")


def graph_spec(model: nn.Module, level_hw: list[tuple[int, int]] | None = None) -> GraphSpec:
    """The inputs of the graph of ``model``; ``level_hw``: the maps' (H_l, W_l), by default
    ``input size // stride`` (a store's levels give the exact ones)."""
    j = 17
    names = [str(i) for i in range(len(model.level_channels))]
    if _is_temporal(model):
        inputs = {"pose2d": ["U", j, 2], "window": ["B", model.frames]}
        if model.context != "none":
            inputs.update({f"joint_feat_{n}": ["U", j, c] for n, c in zip(names, model.level_channels)})
        return GraphSpec("temporal", inputs, frames=model.frames)
    inputs = {"pose2d": ["B", j, 2]}
    if model.context != "none":
        width, height = model.input_size_wh
        level_hw = level_hw or [(height // s, width // s) for s in model.level_strides]
        inputs["ref_px"] = ["B", j, 2]
        inputs.update({f"feat_{n}": ["B", c, h, w] for n, c, (h, w) in zip(names, model.level_channels, level_hw)})
    return GraphSpec("single_frame", inputs)


def example_inputs(spec: GraphSpec, *, batch: int = 2, frames_u: int | None = None, seed: int = 0) -> dict:
    """Random inputs of the spec's shapes (tracing only needs shapes; values in the inputs' ranges)."""
    gen = torch.Generator().manual_seed(seed)
    u = frames_u or (spec.frames or 1) + 1
    out = {}
    for name, shape in spec.inputs.items():
        dims = [batch if d == "B" else u if d == "U" else d for d in shape]
        if name == "window":
            out[name] = torch.randint(0, u, dims, generator=gen, dtype=torch.int64)
        elif name == "ref_px":
            out[name] = torch.rand(dims, generator=gen) * 64
        else:
            out[name] = torch.rand(dims, generator=gen) * 2 - 1
    return out


def _graph_module(model: nn.Module) -> nn.Module:
    return _TemporalGraph(model) if _is_temporal(model) else _SingleFrameGraph(model)


def export_onnx(model: nn.Module, spec: GraphSpec, out_path: Path, *, opset: int = OPSET) -> Path:
    """Write ``out_path`` (.onnx) from ``model``'s forward with the spec's named, batch-dynamic inputs."""
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    inputs = example_inputs(spec)
    names = list(spec.inputs)
    dynamic = {name: {axis: dim for axis, dim in enumerate(shape) if isinstance(dim, str)}
               for name, shape in spec.inputs.items()}
    dynamic["kp3d"] = {0: "B"}
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer notes shapes it records as constants: the maps' sizes and T are fixed by design,
        # and the batch axes are exported dynamic (the tests run other batch sizes)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(_graph_module(model), tuple(inputs[n] for n in names), str(tmp), input_names=names,
                          output_names=["kp3d"], dynamic_axes=dynamic, opset_version=opset, dynamo=False)
    import onnx

    onnx.checker.check_model(str(tmp))
    tmp.replace(out_path)
    return out_path


def onnx_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def graph_feed(spec: GraphSpec, batch: dict) -> dict[str, np.ndarray]:
    """A lifter batch (``forward_batch``'s keys) -> the graph's named numpy inputs."""
    feed = {"pose2d": batch["pose2d"]}
    if spec.kind == "temporal":
        feed["window"] = batch["window"]
        feed.update({f"joint_feat_{k}": f for k, f in enumerate(batch.get("joint_feats", []))})
    else:
        if "ref_px" in spec.inputs:
            feed["ref_px"] = batch["ref_px"]
            feed.update({f"feat_{k}": f for k, f in enumerate(batch["feats"])})
    out = {}
    for name, value in feed.items():
        array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        out[name] = array.astype(np.int64 if name == "window" else np.float32)
    return {name: out[name] for name in spec.inputs if name in out}


@dataclass
class OnnxExport:
    path: Path
    spec_path: Path
    spec: GraphSpec
    max_abs_diff_m: float | None = None   # onnxruntime vs torch on the check batch
    check_frames: int = 0


def export_checkpoint(ckpt: Path, out_dir: Path, *, store: Path | None = None, check_frames: int = 64,
                      opset: int = OPSET) -> OnnxExport:
    """``<out_dir>/<run name>.onnx`` (+ ``.json``) of a lift checkpoint; with a store, the graph's maps
    take the store's level shapes and onnxruntime is checked against torch on its first frames."""
    model, meta = load_lifter_checkpoint(ckpt)
    level_hw = None
    store_obj = None
    if store is not None:
        from cache.store import FeatureStore

        store_obj = FeatureStore.open(Path(store))
        by_name = {lv.name: lv for lv in store_obj.levels}
        names = [str(n) for n in meta.get("levels") or []]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise ExportInputError(f"{store}: no feature levels {missing} that {ckpt} reads")
        level_hw = [(by_name[n].height, by_name[n].width) for n in names]
    spec = graph_spec(model, level_hw)
    spec.meta = {"checkpoint": meta["path"], "checkpoint_sha256": meta["sha256"], "model": meta.get("model"),
                 "levels": meta.get("levels"), "opset": opset, "output": {"kp3d": ["B", 17, 3]},
                 "units": "kp3d in metres, root-relative, camera axes (x right, y down, z forward)",
                 "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    name = Path(ckpt).parent.name if Path(ckpt).name == "best.pth" else Path(ckpt).stem
    path = export_onnx(model, spec, Path(out_dir) / f"{name}.onnx", opset=opset)
    result = OnnxExport(path, path.with_suffix(".json"), spec)
    if store_obj is not None:
        torch_out, onnx_out, frames = compare_on_store(model, spec, path, store_obj.path, meta, frames=check_frames)
        result.max_abs_diff_m, result.check_frames = float(np.abs(torch_out - onnx_out).max()), frames
        spec.meta["check"] = {"store": str(store_obj.path), "frames": frames, "max_abs_diff_m": result.max_abs_diff_m}
    result.spec_path.write_text(json.dumps({"kind": spec.kind, "inputs": spec.inputs, "frames": spec.frames,
                                            **spec.meta}, indent=2, default=str))
    return result


def store_batches(model: nn.Module, store_path: Path, meta: dict, frames: int, batch_size: int = 32):
    """The lifter's own input batches (``lift_dataset``, what evaluation reads) for a store's first frames."""
    from stages.lift.dataset import FrameBatchSampler, make_loader
    from stages.lift.sequence_dataset import lift_dataset
    from stages.lift.settings import lift_settings

    cfg = lift_settings({"model": {**(meta.get("model") or {}), "levels": meta.get("levels") or []}})
    from cache.store import FeatureStore

    store = FeatureStore.open(store_path)
    records = np.arange(min(frames, store.num_frames))
    dataset = lift_dataset(model, store_path, records, [str(n) for n in meta.get("levels") or []],
                           train_cfg=cfg["train"], data_cfg={**cfg["data"], "frame_step": 1}, flip_features="mirrored")
    batches = FrameBatchSampler(len(dataset), batch_size, shuffle=False).batches()
    return make_loader(dataset, batches, workers=0, pin_memory=False), len(records)


def compare_on_store(model: nn.Module, spec: GraphSpec, onnx_path: Path, store_path: Path, meta: dict, *,
                     frames: int = 64) -> tuple[np.ndarray, np.ndarray, int]:
    """(torch output, onnxruntime output, frames) of the same batches of a store, in metres."""
    from stages.lift.runtime import forward_batch

    loader, n = store_batches(model, store_path, meta, frames)
    session = onnx_session(onnx_path)
    torch_out, onnx_out = [], []
    with torch.no_grad():
        for batch in loader:
            torch_out.append(forward_batch(model, batch).float().numpy())
            onnx_out.append(session.run(["kp3d"], graph_feed(spec, batch))[0])
    return np.concatenate(torch_out), np.concatenate(onnx_out), n


def time_torch_vs_onnx(model: nn.Module, onnx_path: Path, spec: GraphSpec, *, batch: int, repeats: int,
                       threads: int) -> dict:
    """Milliseconds per frame of the lifter's forward on the CPU: torch (eval, no_grad) and onnxruntime
    with the same thread count on the same random batch. The two alternate, run by run (after one
    warm-up each), and each keeps its fastest run: a busy moment on a shared machine hits both alike
    and counts for neither."""
    inputs = example_inputs(spec, batch=batch, frames_u=batch + (spec.frames or 1))
    graph = _graph_module(model).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        session = onnx_session(onnx_path, threads=threads)
        feed = {k: v.numpy() for k, v in inputs.items()}
        runs = {"torch": lambda: graph(*inputs.values()), "onnxruntime": lambda: session.run(["kp3d"], feed)}
        best = {name: float("inf") for name in runs}
        with torch.no_grad():
            for name, run in runs.items():
                run()
            for _ in range(repeats):
                for name, run in runs.items():
                    tick = time.perf_counter()
                    run()
                    best[name] = min(best[name], time.perf_counter() - tick)
    finally:
        torch.set_num_threads(previous)
    torch_ms, onnx_ms = (best[name] * 1000.0 / batch for name in ("torch", "onnxruntime"))
    return {"torch_ms_per_frame": torch_ms, "onnxruntime_ms_per_frame": onnx_ms,
            "onnxruntime_vs_torch_speed": torch_ms / onnx_ms, "batch": batch, "threads": threads,
            "repeats": repeats}
