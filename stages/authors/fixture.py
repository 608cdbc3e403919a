"""A parity fixture's lifter case in CAPF's own input conventions.

A fixture folder (the layout of the authors' CA-PF parity fixture: ``manifest.json`` with each
frame's pixel joints and image size, ``inputs.npz`` with the crop-pixel joints, ``<variant>.npz``
with the features the authors' lifter read and its output) holds what the authors' model was fed
and what it returned. :func:`lifter_case` turns that into what CAPF's lifter takes: the 2D input
normalised from the pixel joints by CAPF's own :func:`normalise_screen_coordinates`, the crop-pixel
joints as reference points (the model maps them to its sampling grid), and everything in
Human3.6M-17 order.

Joint order of a 3DHP variant: the authors' 3DHP model reads its 17 input rows as MPI-INF-3DHP
joints, and the fixture fed it the frames' joints row for row. So those rows *are* 3DHP-ordered
joints as far as that model is concerned; CAPF's converted model takes them reordered to H36M-17
(:func:`mpi3dhp17_to_h36m17`) and must return the fixture's output reordered the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stages.authors.stand_in_weights import StandInError, read_manifest
from stages.lift.joints import mpi3dhp17_to_h36m17, normalise_screen_coordinates

LEVELS = 4  # feat_0..3: their HRNet's four levels


@dataclass(frozen=True)
class LifterCase:
    """One variant's lifter inputs and the authors' outputs, H36M-17 order, float32."""

    pose2d: torch.Tensor                # (B, 17, 2) CAPF's normalisation of the frames' pixel joints
    ref_px: torch.Tensor                # (B, 17, 2) the joints in crop pixels (192 x 256 crop)
    feats: list[torch.Tensor]           # 4 x (B, C_l, H_l, W_l): what their lifter read
    pred: torch.Tensor                  # (B, 17, 3) their model's output
    pred_flip_test: torch.Tensor | None  # (B, 17, 3) their flip-test average (Human3.6M variants)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path) as arrays:
            return {name: arrays[name] for name in arrays.files}
    except FileNotFoundError as error:
        raise StandInError(f"{path}: missing from the fixture folder") from error
    except (OSError, ValueError) as error:
        raise StandInError(f"{path}: unreadable ({type(error).__name__}: {error})") from error


def _require(arrays: dict[str, np.ndarray], names: list[str], path: Path) -> None:
    absent = [name for name in names if name not in arrays]
    if absent:
        raise StandInError(f"{path}: no array {', '.join(absent)}")


def pose2d_from_frames(manifest: dict) -> np.ndarray:
    """``(B, 17, 2)`` the lifter's 2D input from each frame's pixel joints and image size (h, w)."""
    return np.stack([normalise_screen_coordinates(np.asarray(frame["kp2d_px"], dtype=np.float32),
                                                  float(frame["image_hw"][1]), float(frame["image_hw"][0]))
                     for frame in manifest["frames"]])


def lifter_case(fixture_dir: Path, variant: str, *, joint_order: str) -> LifterCase:
    """The fixture's lifter case for ``variant``, for a model working in ``joint_order``
    (``"h36m17"`` or ``"mpi3dhp17"``, as :class:`~stages.authors.lifter_keys.LifterSettings` says)."""
    fixture_dir = Path(fixture_dir)
    manifest = read_manifest(fixture_dir)
    inputs, outputs = _load_npz(fixture_dir / "inputs.npz"), _load_npz(fixture_dir / f"{variant}.npz")
    _require(inputs, ["kp2d_crop_px"], fixture_dir / "inputs.npz")
    _require(outputs, ["pred", *(f"feat_{level}" for level in range(LEVELS))], fixture_dir / f"{variant}.npz")
    to_h36m = mpi3dhp17_to_h36m17 if joint_order == "mpi3dhp17" else (lambda kp: kp)
    flip = outputs.get("pred_flip_test")
    return LifterCase(
        pose2d=torch.from_numpy(np.ascontiguousarray(to_h36m(pose2d_from_frames(manifest)))),
        ref_px=torch.from_numpy(np.ascontiguousarray(to_h36m(inputs["kp2d_crop_px"].astype(np.float32)))),
        feats=[torch.from_numpy(outputs[f"feat_{level}"].astype(np.float32)) for level in range(LEVELS)],
        pred=torch.from_numpy(np.ascontiguousarray(to_h36m(outputs["pred"].astype(np.float32)))),
        pred_flip_test=None if flip is None else torch.from_numpy(np.ascontiguousarray(to_h36m(flip.astype(np.float32)))),
    )


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """The largest absolute difference relative to the reference's mean magnitude."""
    return float((got.double() - want.double()).abs().max() / want.double().abs().mean())


# -- the whole fixture, for `capf check-parity` ------------------------------------------------------
INPUT_ARRAYS = ("crop_bgr", "image_tensor", "kp2d_norm", "kp2d_crop_px")


def variant_names(fixture_dir: Path) -> list[str]:
    """The variants the fixture's manifest lists, in its order (never a built-in list)."""
    variants = list(read_manifest(Path(fixture_dir))["variants"])
    if not variants:
        raise StandInError(f"{Path(fixture_dir) / 'manifest.json'}: lists no variants")
    return variants


def saved_bare(manifest: dict, variant: str) -> bool:
    """Whether the authors save this variant's checkpoint as the bare state dict: their 3DHP code
    (``ContextPose_mpi``) does, their Human3.6M ``train.py`` wraps it as ``{'model': ...}``."""
    model = str(manifest["variants"][variant].get("model", ""))
    return "ContextPose_mpi" in model or (not model and variant.startswith("3dhp"))


def fixture_inputs(fixture_dir: Path) -> dict[str, np.ndarray]:
    """``inputs.npz``: crop_bgr (N, 256, 192, 3) uint8, image_tensor (N, 256, 192, 3), kp2d_norm and
    kp2d_crop_px (N, 17, 2)."""
    path = Path(fixture_dir) / "inputs.npz"
    arrays = _load_npz(path)
    _require(arrays, list(INPUT_ARRAYS), path)
    return arrays


def fixture_outputs(fixture_dir: Path, variant: str) -> dict[str, np.ndarray]:
    """``<variant>.npz``: what the authors' code computed (feat_0..3, heatmaps, pred, pred_flip_test)."""
    path = Path(fixture_dir) / f"{variant}.npz"
    arrays = _load_npz(path)
    _require(arrays, ["pred", "heatmaps"], path)
    return arrays


def save_as_authors(fixture_dir: Path, variant: str, folder: Path) -> tuple[Path, Path]:
    """The variant's two released files rebuilt by the weight rule and saved as their authors save
    them (``torch.save``): ``<variant>_ca_pf.pth`` (``{'model': ...}`` or bare) and
    ``<variant>_pose_hrnet.pth`` (the official HRNet file, bare, with its heatmap layer)."""
    from stages.authors.stand_in_weights import official_hrnet_from_authors, stand_in_checkpoint

    fixture_dir, folder = Path(fixture_dir), Path(folder)
    manifest = read_manifest(fixture_dir)
    authors = stand_in_checkpoint(fixture_dir, variant)
    official = official_hrnet_from_authors({k: v.numpy() for k, v in authors.items()}, int(manifest["seed"]))
    folder.mkdir(parents=True, exist_ok=True)
    ca_pf, hrnet = folder / f"{variant}_ca_pf.pth", folder / f"{variant}_pose_hrnet.pth"
    torch.save(authors if saved_bare(manifest, variant) else {"model": authors}, ca_pf)
    torch.save({k: torch.from_numpy(np.array(v)) for k, v in official.items()}, hrnet)  # 0-d stays 0-d
    return ca_pf, hrnet
