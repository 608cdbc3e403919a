"""The lifter of ``capf infer``: a CAPF checkpoint, checked against the 2D detector, run over a store.

``lift_window`` is the one inference path: a window of store records -> 3D joints, through the same
input assembly as training and evaluation (``lift_dataset`` builds the dataset the lifter reads,
``predict`` and ``evaluate`` run the model, flip test included). A single-frame lifter takes any set
of records in one window. A temporal lifter (``TemporalLifter``: PoseFormer, CA-PF-S over T
frames) reads the store's joint features (``prepare_store`` adds them with the checkpoint's
``ref_convention``, from the cached maps, no detector run) and lifts each record from the T records
centred on it in its sequence: given the records' person tracks and clip frames, one sequence per
track in frame order (the store's index holds one video per clip, its people interleaved), cut where
a track misses a frame, ends padded by repeating the edge record as in training, so a T longer than
the clip still lifts every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cache.key import sha256_file
from cache.pass_lock import exclusive_pass
from cache.store import FeatureStore, LevelSpec
from stages.lift.build import LevelGeometry, build_lifter, geometry_from_store, requested_levels
from stages.lift.augment import FlipGeometry, resolve_flip_features
from stages.lift.dataset import MM_PER_M, BatchRequest, FrameBatchSampler, make_loader, to_device
from stages.lift.checkpoints import load_checkpoint_file, load_weights
from stages.lift.evaluate import evaluate, evaluation_protocol, predict, predict_batch
from stages.lift.joint_feats import JointFeatResult, write_joint_feats
from stages.lift.model import ContextAwarePoseFormer
from stages.lift.sequence_dataset import lift_dataset
from stages.lift.temporal import TemporalLifter


class LifterError(ValueError):
    """The lift checkpoint cannot serve this detector or store; the message names the file."""


@dataclass
class LiftCheckpoint:
    """A lift checkpoint's file, digest and what it was trained with (its ``meta``)."""

    path: Path
    sha256: str
    state_dict: dict
    meta: dict

    @classmethod
    def load(cls, path: Path) -> "LiftCheckpoint":
        path = Path(path)
        if not path.is_file():
            raise LifterError(f"{path}: lift checkpoint not found")
        saved = load_checkpoint_file(path)  # ResumeError (one line) when unreadable
        if not isinstance(saved, dict) or "state_dict" not in saved:
            raise LifterError(f"{path}: not a CAPF lift checkpoint (no state_dict)")
        return cls(path, sha256_file(path), saved["state_dict"], dict(saved.get("meta", {})))

    def expected_levels(self) -> list[tuple[str, int, int]] | None:
        """(name, stride, channels) of the levels the lifter was trained on, from its meta."""
        model, names = self.meta.get("model", {}), self.meta.get("levels")
        if not names or "level_strides" not in model:
            return None
        return list(zip(names, model["level_strides"], model["level_channels"]))

    def expected_input_size(self) -> tuple[int, int] | None:
        size = self.meta.get("model", {}).get("input_size_wh")
        return (int(size[0]), int(size[1])) if size else None


def check_detector_fits(checkpoint: LiftCheckpoint, levels: tuple[LevelSpec, ...] | None,
                        input_size_wh: tuple[int, int], detector_label: str) -> None:
    """Refuse a detector whose crop size or feature levels differ from the lifter's training store
    (``levels=None``: the crop size only, known from the detector's config without building it)."""
    want_size = checkpoint.expected_input_size()
    if want_size is not None and tuple(want_size) != tuple(input_size_wh):
        raise LifterError(f"{checkpoint.path}: the lifter was trained on {want_size[0]}x{want_size[1]} (w x h) "
                          f"crops but the detector {detector_label} crops {input_size_wh[0]}x{input_size_wh[1]}; "
                          "use the detector the lifter was trained with")
    if levels is None:
        return
    by_name = {lv.name: lv for lv in levels}
    for name, stride, channels in checkpoint.expected_levels() or []:
        have = by_name.get(name)
        if have is None or (have.stride, have.channels) != (int(stride), int(channels)):
            got = f"stride {have.stride}, {have.channels} ch" if have else "no such level"
            raise LifterError(f"{checkpoint.path}: the lifter reads level {name} with stride {stride}, {channels} ch "
                              f"but the detector {detector_label} has {got}; use the detector the lifter was "
                              "trained with")


@dataclass
class Lifter:
    """A lifter ready to run on one store: the model with the checkpoint's weights and its settings."""

    model: ContextAwarePoseFormer | TemporalLifter
    geometry: LevelGeometry
    device: torch.device
    batch_size: int
    flip_test: bool
    amp: str | None
    dataset_type: str
    cfg: dict  # completed by lift_settings: its train/data sections shape the dataset

    @property
    def temporal_frames(self) -> int | None:
        """T of a temporal lifter (windows of T frames), None for a single-frame one."""
        return self.model.frames if isinstance(self.model, TemporalLifter) else None

    def describe(self) -> str:
        if self.temporal_frames is None:
            return f"{type(self.model).__name__} (single frame, context {self.model.context})"
        return (f"{type(self.model).__name__} over T = {self.temporal_frames} frames (context {self.model.context}), "
                "windows per person track")


def load_lifter(cfg: dict, checkpoint: LiftCheckpoint, store: FeatureStore, *, device: torch.device,
                batch_size: int, flip_test: bool, amp: str | None) -> Lifter:
    """Build the config's lifter (``cfg`` completed by ``lift_settings``) for the store's levels and
    load the checkpoint's weights, as ``capf eval`` does, so inference and evaluation run the very
    same model."""
    return lifter_for_geometry(cfg, checkpoint, geometry_from_store(cfg, store, need_targets=False),
                               device=device, batch_size=batch_size, flip_test=flip_test, amp=amp,
                               dataset_type=evaluation_protocol(cfg, store))


def lifter_for_geometry(cfg: dict, checkpoint: LiftCheckpoint, geometry: LevelGeometry, *, device: torch.device,
                        batch_size: int, flip_test: bool, amp: str | None, dataset_type: str) -> Lifter:
    """The config's lifter for known levels (a store's, or a live detector's) with the checkpoint's weights."""
    model = build_lifter(cfg, geometry)
    load_weights(model, {"state_dict": checkpoint.state_dict}, checkpoint.path)
    model.to(device).eval()
    return Lifter(model, geometry, device, batch_size, flip_test, amp, dataset_type, cfg)


def geometry_of_levels(cfg: dict, levels: tuple[LevelSpec, ...], input_size_wh: tuple[int, int]) -> LevelGeometry:
    """The config's levels picked from a detector's (``check_detector_fits`` has compared them)."""
    by_name = {lv.name: lv for lv in levels}
    return LevelGeometry(tuple(by_name[n] for n in requested_levels(cfg["model"])),
                         (int(input_size_wh[0]), int(input_size_wh[1])))


def prepare_store(lifter: Lifter, store_path: Path, *, progress: bool = True) -> JointFeatResult | None:
    """Add what the lifter reads beyond stage one's arrays: a temporal lifter with context reads
    ``joint_feat/<l>`` sampled with its own ``ref_convention`` (computed from the cached maps; a
    store that has them with that convention is left alone). None: nothing to add."""
    if lifter.temporal_frames is None or lifter.model.context == "none":
        return None
    with exclusive_pass(store_path, "joint_feat"):  # two runs on one clip share the store
        return write_joint_feats(store_path, convention=lifter.model.ref_convention, progress=progress)


@dataclass
class LiftedWindow:
    kp3d_mm: np.ndarray        # (N, 17, 3) root-relative, camera axes
    metrics: dict | None       # MPJPE etc. against the store's gt3d, when it has one


def track_sequences(track: np.ndarray, frame: np.ndarray) -> dict[str, np.ndarray]:
    """``video``/``frame`` labels ``(N,)`` that make each person track one video in clip-frame order
    (``SequenceDataset(video_labels=...)``; consecutive clip frames are 1 apart)."""
    return {"video": np.array([f"track{int(t)}" for t in np.asarray(track)], dtype=object).astype(str),
            "frame": np.asarray(frame, dtype=np.int64)}


def lift_window(lifter: Lifter, store_path: Path, records: np.ndarray, *, track: np.ndarray | None = None,
                frame: np.ndarray | None = None) -> LiftedWindow:
    """3D joints of ``records`` (store indices, ascending) of the store at ``store_path``, in that order.

    ``track``, ``frame``: ``(N,)`` person track and clip frame of each record; a temporal lifter's
    windows then run along each track (module docstring); without them along the store's videos, as
    ``capf eval`` groups them. Single-frame lifters ignore both. With ground truth in the store this
    is ``evaluate`` itself (the metrics are the ones ``capf eval`` reports on the same frames, MPJVE
    included where it has consecutive frames); without, ``predict`` on the same batches.
    """
    records = np.asarray(records, dtype=np.int64)
    video_labels, data_cfg = None, lifter.cfg["data"]
    if track is not None and frame is not None and lifter.temporal_frames is not None:
        video_labels = track_sequences(track, frame)
        data_cfg = {**data_cfg, "frame_step": 1}  # the labels number the clip's own frames
    flip_features = resolve_flip_features(lifter.cfg["eval"].get("flip_features", "auto"),
                                          FeatureStore.open(store_path), "eval.flip_features")
    dataset = lift_dataset(lifter.model, store_path, records, lifter.geometry.names,
                           train_cfg=lifter.cfg["train"], data_cfg=data_cfg,
                           flip_features=flip_features if lifter.flip_test else "mirrored",
                           video_labels=video_labels)
    # a temporal dataset holds its frames in video order: put the predictions back in records' order
    to_records = np.searchsorted(records, dataset.inputs.frames)
    if dataset.inputs.target_m is not None:
        result = evaluate(lifter.model, dataset, device=lifter.device, batch_size=lifter.batch_size, workers=0,
                          flip_test=lifter.flip_test, amp=lifter.amp, dataset_type=lifter.dataset_type,
                          flip_features=flip_features, reroot=lifter.cfg["eval"].get("reroot", "auto"))
        kp3d_mm = np.empty_like(result.pred_mm, dtype=np.float32)
        kp3d_mm[to_records] = result.pred_mm
        return LiftedWindow(kp3d_mm, result.metrics)
    batches = FrameBatchSampler(len(dataset), lifter.batch_size, shuffle=False).batches()
    if lifter.flip_test and getattr(dataset, "has_flip_maps", False):  # the flip test reads both map sets
        batches = [BatchRequest(b, ("feat", "feat_flip")) for b in batches]
    loader = make_loader(dataset, batches, workers=0, pin_memory=lifter.device.type == "cuda")
    pred_m = predict(lifter.model, loader, device=lifter.device, flip_test=lifter.flip_test, amp=lifter.amp)
    kp3d_mm = np.empty_like(pred_m, dtype=np.float32)
    kp3d_mm[to_records] = pred_m * MM_PER_M
    return LiftedWindow(kp3d_mm, None)


def _predict_mm(lifter: Lifter, batch: dict) -> np.ndarray:
    """One batch through ``predict_batch`` (flip test as configured): ``(B, 17, 3)`` float32 mm."""
    pred = predict_batch(lifter.model, to_device(batch, lifter.device), device=lifter.device,
                         flip_test=lifter.flip_test, amp=lifter.amp, geometry=FlipGeometry.of(lifter.model))
    return pred.cpu().numpy() * MM_PER_M


def lift_frame(lifter: Lifter, pose2d: np.ndarray, ref_px: np.ndarray, maps: list[np.ndarray]) -> np.ndarray:
    """A single-frame lifter on the P records of one frame, from memory instead of a store: ``pose2d``
    and ``ref_px`` ``(P, 17, 2)`` (``lifter_2d_inputs``), ``maps`` the lifter's levels ``(P, C_l, H_l, W_l)``
    float16 as stage one stores them. Returns ``(P, 17, 3)`` mm, what ``lift_window`` gives for them."""
    feats = [torch.from_numpy(m) for m in maps] if lifter.model.context != "none" else []
    return _predict_mm(lifter, {"pose2d": torch.from_numpy(pose2d), "ref_px": torch.from_numpy(ref_px),
                                "feats": feats})


def lift_windows(lifter: Lifter, pose2d: np.ndarray, joint_feats: list[np.ndarray], window: np.ndarray) -> np.ndarray:
    """A temporal lifter on windows over U frames held in memory: ``pose2d`` ``(U, 17, 2)``, ``joint_feats``
    the lifter's levels ``(U, 17, C_l)`` float16 (empty for context "none"), ``window`` ``(B, T)`` indices
    into the U frames (edges repeated as ``stages.lift.sequences.windows`` pads). Returns ``(B, 17, 3)`` mm."""
    feats = [torch.from_numpy(f) for f in joint_feats] if lifter.model.context != "none" else []
    return _predict_mm(lifter, {"pose2d": torch.from_numpy(pose2d), "joint_feats": feats,
                                "window": torch.from_numpy(np.asarray(window, dtype=np.int64))})
