"""`capf check-parity`: does CAPF compute what the authors' CA-PF computes, number for number?

For every variant a fixture folder lists (``stages.authors.fixture``):
1. rebuild the authors' CA-PF checkpoint and the official HRNet file from the weight rule and save
   them as their authors do (``torch.save``), then ``capf import`` both (``stages.authors.importer``);
2. feed the fixture's crops through CAPF's detector path (mmpose's test pipeline on the crop, its
   data preprocessor, the imported HRNet with the authors' levels): the input tensor, each feature
   level (the CA-PF file's backbone; one pass serves both files where their backbones are the same
   tensors, as the authors froze the official one) and the heatmaps (the official file's head);
3. feed the frames' 2D joints through CAPF's input path (``normalise_screen_coordinates``; the
   authors' crop affine for the reference points): ``kp2d_norm``, ``kp2d_crop_px``;
4. run CAPF's lifter (``lifter.pth`` + ``lift_config.py``): ``pred`` on the authors' own maps and
   crop-pixel joints (the lifter alone), ``pred_e2e`` on CAPF's maps and reference points (the
   whole chain), ``pred_flip_test`` with the flip test as CAPF's evaluation runs it (the detector
   on the mirrored crop, 2D mirrored, left/right swapped, averaged).

Each comparison is the largest absolute difference relative to the reference's mean magnitude; a
variant passes when every gated one is at most ``TOLERANCE`` (redrawing any single lifter tensor
moves ``pred`` by at least 3 %). The rows fed CAPF's own maps are gated only where the lifter is
well conditioned: a lifter that moves by more than the tolerance under 1e-6 relative noise on its
maps (the fixture's Human3.6M stand-ins, whose deformable offsets are large) cannot tell CAPF's
maps, equal to the authors' at fp32 precision, from theirs (``VariantReport.sensitivity``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stages.authors.fixture import (fixture_inputs, fixture_outputs, pose2d_from_frames, relative_error,
                                    save_as_authors, variant_names)
from stages.authors.importer import AUTHORS_LEVELS, ImportRequest, import_checkpoint
from stages.authors.stand_in_weights import read_manifest

TOLERANCE = 1e-3
# Rows whose lifter input includes CAPF's own feature maps (the end-to-end chain).
CHAOTIC_ROWS = ("pred_e2e", "pred_flip_test")
NOISE = 1e-6


def _error(got, reference) -> float:
    """max |got - reference| / mean |reference| of arrays or tensors (inf when the shapes differ)."""
    got, reference = torch.as_tensor(np.asarray(got)), torch.as_tensor(np.asarray(reference))
    return float("inf") if got.shape != reference.shape else relative_error(got, reference)


@dataclass
class VariantReport:
    """Errors per quantity. ``sensitivity``: how far the lifter's output moves when its feature maps
    get 1e-6 relative noise; where that alone exceeds the tolerance, the rows that feed it CAPF's own
    maps (``CHAOTIC_ROWS``) cannot be judged at fp32 precision and are shown but not gated."""

    variant: str
    errors: dict[str, float] = field(default_factory=dict)
    sensitivity: float = 0.0

    @property
    def ungated(self) -> set[str]:
        return set(CHAOTIC_ROWS) if self.sensitivity > TOLERANCE else set()

    @property
    def passed(self) -> bool:
        return all(err <= TOLERANCE for name, err in self.errors.items() if name not in self.ungated)


@dataclass
class ParityReport:
    fixture: Path
    variants: list[VariantReport]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.variants)

    def table(self) -> str:
        """Markdown: one row per variant, one column per compared quantity (``*``: not gated)."""
        columns = list(dict.fromkeys(name for v in self.variants for name in v.errors))
        lines = ["| variant | " + " | ".join(columns) + " | noise 1e-6 -> pred | |", "|---" * (len(columns) + 3) + "|"]
        for v in self.variants:
            cells = [(f"{v.errors[c]:.1e}" + ("*" if c in v.ungated else "")) if c in v.errors else "-" for c in columns]
            lines.append(f"| {v.variant} | " + " | ".join(cells) + f" | {v.sensitivity:.0e} | {'ok' if v.passed else 'FAIL'} |")
        lines.append(f"\nlargest |CAPF - authors| / mean |authors| per quantity; tolerance {TOLERANCE:g}: "
                     f"{'pass' if self.passed else 'FAIL'}")
        if any(v.ungated for v in self.variants):
            lines.append("* not gated: this lifter moves its output by more than the tolerance when its feature maps get "
                         "1e-6 relative noise (column 'noise 1e-6 -> pred'), so CAPF's maps, which agree with the "
                         "authors' to fp32 precision (feat_*), cannot be judged through it; `pred` feeds it the "
                         "authors' own maps and is gated")
        return "\n".join(lines)


def _crop_batch(detector, crops_bgr: np.ndarray) -> dict:
    """The crops through CAPF's test pipeline with the whole crop as the box (identity affine)."""
    height, width = crops_bgr.shape[1:3]
    box = np.array([0.0, 0.0, width, height], np.float32)
    packed = [detector.crop(np.ascontiguousarray(crop), box) for crop in crops_bgr]
    return {"inputs": [p["inputs"] for p in packed], "data_samples": [p["data_samples"] for p in packed]}


def crop_affines(frames: list[dict], detector, convention: str = "authors") -> np.ndarray:
    """(N, 2, 3) image -> crop transforms of the frames' boxes (``center`` +- ``scale`` x 200 / 2, no
    padding), as CAPF's crop pipeline makes them with ``convention`` (``dataset.crop='authors'``:
    the authors' pixel-centre affine): the detector's test pipeline gives the center/scale,
    :func:`stages.detector.crop_affine.warp_matrix` the transform."""
    from stages.detector.crop_affine import warp_matrix
    from stages.detector.topdown import CropPipeline, _test_pipeline

    pipeline = CropPipeline(_test_pipeline(detector.cfg, 1.0, convention))
    out = []
    for frame in frames:
        height, width = (int(v) for v in frame["image_hw"])
        centre, side = np.asarray(frame["center"], np.float64), np.asarray(frame["scale"], np.float64) * 200.0
        box = np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)
        meta = pipeline(np.zeros((height, width, 3), np.uint8), box)["data_samples"].metainfo
        out.append(warp_matrix(np.asarray(meta["input_center"], np.float32), np.asarray(meta["input_scale"], np.float32),
                               detector.input_size_wh, convention))
    return np.stack(out).astype(np.float32)


def reference_points(frames: list[dict], affines: np.ndarray) -> np.ndarray:
    """``(N, 17, 2)`` the frames' image-pixel joints in crop pixels (CAPF's image -> input mapping)."""
    from stages.extract.external2d import image_to_input

    kp_px = np.stack([np.asarray(frame["kp2d_px"], np.float32) for frame in frames])
    return image_to_input(kp_px, affines).astype(np.float32)


@dataclass(frozen=True)
class ImportedVariant:
    """The two imports of one variant: the CA-PF file's (``capf``) and the official HRNet file's (``hrnet``)."""

    capf: Path
    hrnet: Path
    extract_configs: tuple[str, str]


def rebuild_and_import(fixture_dir: Path, variant: str, work: Path) -> ImportedVariant:
    """Step 1 of the module docstring: the released files rebuilt under ``work`` and imported."""
    ca_pf, hrnet = save_as_authors(fixture_dir, variant, work)
    imported = import_checkpoint(ImportRequest(ca_pf, work / "capf"))
    official = import_checkpoint(ImportRequest(hrnet, work / "hrnet"))
    return ImportedVariant(imported.out, official.out, (imported.extract_config, official.extract_config))


def _detector(folder: Path, extract_config: str, hrnet_levels: str):
    from mmengine.config import Config

    from stages.detector.topdown import PROJECT_ROOT, TopdownDetector

    config = Config.fromfile(str(PROJECT_ROOT / extract_config)).to_dict()
    return TopdownDetector(config["detector"]["config"], folder / "detector.pth", bbox_padding=1.0,
                           hrnet_levels=hrnet_levels)


def _same_backbone(first: Path, second: Path) -> bool:
    """Whether two imported detector files hold identical ``backbone.*`` tensors."""
    a = torch.load(first, map_location="cpu", weights_only=True)["state_dict"]
    b = torch.load(second, map_location="cpu", weights_only=True)["state_dict"]
    names = [k for k in a if k.startswith("backbone.")]
    return names == [k for k in b if k.startswith("backbone.")] and all(torch.equal(a[k], b[k]) for k in names)


@torch.no_grad()
def compare(fixture_dir: Path, variant: str, imported: ImportedVariant, *,
            hrnet_levels: str = AUTHORS_LEVELS) -> VariantReport:
    """Steps 2-3 of the module docstring on imported files. ``hrnet_levels``: the levels the
    detector reads (anything but the authors' must fail: the check's negative control)."""
    from stages.authors.imported_lifter import load_imported_lifter
    from stages.lift.augment import FlipGeometry, flip_back, flip_batch

    frames = read_manifest(Path(fixture_dir))["frames"]
    report = VariantReport(variant)
    inputs, reference = fixture_inputs(fixture_dir), fixture_outputs(fixture_dir, variant)
    full = _detector(imported.hrnet, imported.extract_configs[1], hrnet_levels)
    tensor = full.model.data_preprocessor(_crop_batch(full, inputs["crop_bgr"]), training=False)["inputs"]
    report.errors["input"] = _error(tensor.permute(0, 2, 3, 1), inputs["image_tensor"])
    maps = full.maps_of_inputs(tensor)
    heatmaps = full.model.head.forward((maps[0],))  # the head reads the fused output: level 0
    # the CA-PF file's backbone is the official one the authors froze: where the two imports hold the
    # same tensors their maps are the same (one HRNet pass fewer), else the CA-PF backbone runs too
    backbone = full
    if not _same_backbone(imported.capf / "detector.pth", imported.hrnet / "detector.pth"):
        backbone = _detector(imported.capf, imported.extract_configs[0], hrnet_levels)
        maps = backbone.maps_of_inputs(tensor)
    for level, fmap in enumerate(maps):
        if f"feat_{level}" in reference:
            report.errors[f"feat_{level}"] = _error(fmap, reference[f"feat_{level}"])
    report.errors["heatmaps"] = _error(heatmaps, reference["heatmaps"])

    pose2d = pose2d_from_frames({"frames": frames})
    ref_px = reference_points(frames, crop_affines(frames, backbone))
    report.errors["kp2d_norm"] = _error(pose2d, inputs["kp2d_norm"])
    report.errors["kp2d_crop_px"] = _error(ref_px, inputs["kp2d_crop_px"])
    lifter = load_imported_lifter(imported.capf, backbone.levels, backbone.input_size_wh)
    order = lifter.to_capf_order
    authors_maps = [torch.from_numpy(reference[f"feat_{level}"]).float() for level in range(len(maps))]
    # pred: the lifter alone, on exactly the authors' inputs (their maps, their crop-pixel joints)
    # and CAPF's normalisation of the 2D input (bit for bit theirs, kp2d_norm above)
    exact = {"pose2d": torch.from_numpy(order(pose2d)), "ref_px": torch.from_numpy(order(inputs["kp2d_crop_px"])),
             "feats": authors_maps}
    clean = lifter.predict(exact)
    report.errors["pred"] = _error(clean, order(reference["pred"]))
    generator = torch.Generator().manual_seed(0)
    noisy = {**exact, "feats": [m * (1 + NOISE * torch.randn(m.shape, generator=generator)) for m in authors_maps]}
    report.sensitivity = _error(lifter.predict(noisy), clean)
    # the chain end to end: CAPF's maps and CAPF's reference points; the flip test as CAPF evaluates
    # it, the mirrored view's maps from the detector on the mirrored crop (feat_flip)
    batch = {"pose2d": torch.from_numpy(order(pose2d)), "ref_px": torch.from_numpy(order(ref_px)), "feats": maps}
    pred = lifter.predict(batch)
    report.errors["pred_e2e"] = _error(pred, order(reference["pred"]))
    if "pred_flip_test" in reference:
        batch["feats_flip"] = backbone.maps_of_inputs(tensor.flip(-1))
        mirrored = lifter.predict(flip_batch(batch, FlipGeometry.of(lifter.model)))
        report.errors["pred_flip_test"] = _error((pred + flip_back(mirrored)) / 2, order(reference["pred_flip_test"]))
    return report


def check_parity(fixture_dir: Path, *, keep: Path | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> ParityReport:
    """Every variant of the fixture folder; ``keep``: leave the rebuilt and imported files there
    (``<keep>/<variant>/{capf,hrnet}/``, what `capf infer` takes), else a temporary folder."""
    variants = variant_names(fixture_dir)
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="capf-parity-"))
    try:
        reports = []
        for variant in variants:
            progress(f"{variant}: rebuilding the authors' checkpoint and the official HRNet file, capf import")
            imported = rebuild_and_import(fixture_dir, variant, work / variant)
            progress(f"{variant}: CAPF's detector and lifter on the fixture's crops")
            reports.append(compare(fixture_dir, variant, imported))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return ParityReport(Path(fixture_dir), reports)
