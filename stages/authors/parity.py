"""`capf check-parity`: does CAPF compute what the authors' CA-PF computes, number for number?

For every variant a fixture folder lists (``stages.authors.fixture``):
1. rebuild the authors' CA-PF checkpoint and the official HRNet file from the weight rule and save
   them as their authors do (``torch.save``), then ``capf import`` both (``stages.authors.importer``);
2. feed the fixture's crops through CAPF's detector path (mmpose's test pipeline on the crop, its
   data preprocessor, the imported HRNet with the authors' levels): the input tensor, each feature
   level (from the CA-PF file's backbone) and the heatmaps (from the official file's head);
3. feed the fixture frames' 2D joints through CAPF's input path (``normalise_screen_coordinates``;
   the crop's affine for the reference points) and CAPF's lifter (``lifter.pth`` +
   ``lift_config.py``) with the maps of step 2: ``pred``; with the flip test as CAPF's evaluation
   runs it (the detector on the mirrored crop, 2D mirrored, left/right swapped, averaged): ``pred_flip_test``.

Each comparison is the largest absolute difference relative to the reference's mean magnitude; a
variant passes when every one is at most ``TOLERANCE`` (the fixture's README: redrawing any single
lifter tensor moves ``pred`` by at least 3 %, and fp32 on a CPU agrees far below 1e-3).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from stages.authors.fixture import ParityFixture, Variant
from stages.authors.importer import AUTHORS_LEVELS, ImportRequest, import_checkpoint

TOLERANCE = 1e-3


def relative_error(got: np.ndarray, reference: np.ndarray) -> float:
    """max |got - reference| / mean |reference| (inf when the shapes differ)."""
    got, reference = np.asarray(got, np.float64), np.asarray(reference, np.float64)
    if got.shape != reference.shape:
        return float("inf")
    return float(np.abs(got - reference).max() / max(np.abs(reference).mean(), 1e-12))


@dataclass
class VariantReport:
    variant: str
    errors: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(err <= TOLERANCE for err in self.errors.values())


@dataclass
class ParityReport:
    fixture: Path
    variants: list[VariantReport]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.variants)

    def table(self) -> str:
        """Markdown: one row per variant, one column per compared quantity."""
        columns = list(dict.fromkeys(name for v in self.variants for name in v.errors))
        lines = ["| variant | " + " | ".join(columns) + " | |", "|---" * (len(columns) + 2) + "|"]
        for v in self.variants:
            cells = [f"{v.errors[c]:.1e}" if c in v.errors else "-" for c in columns]
            lines.append(f"| {v.variant} | " + " | ".join(cells) + f" | {'ok' if v.passed else 'FAIL'} |")
        verdict = "pass" if self.passed else "FAIL"
        lines.append(f"\nlargest |CAPF - authors| / mean |authors| per quantity; tolerance {TOLERANCE:g}: {verdict}")
        return "\n".join(lines)


def _crop_batch(detector, crops_bgr: np.ndarray) -> dict:
    """The crops through CAPF's test pipeline with the whole crop as the box (identity affine)."""
    height, width = crops_bgr.shape[1:3]
    box = np.array([0.0, 0.0, width, height], np.float32)
    packed = [detector.crop(np.ascontiguousarray(crop), box) for crop in crops_bgr]
    return {"inputs": [p["inputs"] for p in packed], "data_samples": [p["data_samples"] for p in packed]}


def crop_affines(frames: list[dict], input_size_wh: tuple[int, int], pipeline) -> np.ndarray:
    """(N, 2, 3) image -> crop transforms of the frames' boxes (``center`` +- ``scale`` x 200 / 2, no
    padding: the authors' crop), as CAPF's crop pipeline makes them (mmpose's center/scale, its
    aspect fix and ``get_warp_matrix``)."""
    from mmpose.structures.bbox import get_warp_matrix

    out = []
    for frame in frames:
        height, width = (int(v) for v in frame["image_hw"])
        centre, side = np.asarray(frame["center"], np.float64), np.asarray(frame["scale"], np.float64) * 200.0
        box = np.concatenate([centre - side / 2, centre + side / 2]).astype(np.float32)
        meta = pipeline(np.zeros((height, width, 3), np.uint8), box)["data_samples"].metainfo
        out.append(get_warp_matrix(np.asarray(meta["input_center"], np.float32).reshape(2),
                                   np.asarray(meta["input_scale"], np.float32).reshape(2), 0.0,
                                   output_size=tuple(input_size_wh)))
    return np.stack(out).astype(np.float32)


def lifter_inputs(frames: list[dict], affines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CAPF's 2D input ``(N, 17, 2)`` (normalised screen coordinates) and reference points in crop
    pixels ``(N, 17, 2)`` of the frames' image-pixel joints."""
    from stages.extract.external2d import image_to_input
    from stages.lift.joints import normalise_screen_coordinates

    kp_px = np.stack([np.asarray(f["kp2d_px"], np.float64) for f in frames])
    pose2d = np.stack([normalise_screen_coordinates(kp, float(f["image_hw"][1]), float(f["image_hw"][0]))
                       for kp, f in zip(kp_px, frames)])
    return pose2d.astype(np.float32), image_to_input(kp_px.astype(np.float32), affines).astype(np.float32)


@dataclass(frozen=True)
class ImportedVariant:
    """The two imports of one variant: the CA-PF file's (``capf``) and the official HRNet file's (``hrnet``)."""

    capf: Path
    hrnet: Path
    extract_configs: tuple[str, str]


def rebuild_and_import(fixture: ParityFixture, variant: Variant, work: Path) -> ImportedVariant:
    """Step 1 of the module docstring: the released files rebuilt under ``work`` and imported."""
    ca_pf, hrnet = fixture.save_as_authors(variant.name, work)
    imported = import_checkpoint(ImportRequest(ca_pf, work / "capf"))
    official = import_checkpoint(ImportRequest(hrnet, work / "hrnet"))
    return ImportedVariant(imported.out, official.out, (imported.extract_config, official.extract_config))


def _detector(folder: Path, extract_config: str, hrnet_levels: str):
    from mmengine.config import Config

    from stages.detector.topdown import PROJECT_ROOT, TopdownDetector

    config = Config.fromfile(str(PROJECT_ROOT / extract_config)).to_dict()
    return TopdownDetector(config["detector"]["config"], folder / "detector.pth", bbox_padding=1.0,
                           hrnet_levels=hrnet_levels)


@torch.no_grad()
def compare(fixture: ParityFixture, variant: Variant, imported: ImportedVariant, *,
            hrnet_levels: str = AUTHORS_LEVELS) -> VariantReport:
    """Steps 2-3 of the module docstring on imported files. ``hrnet_levels``: the levels the
    detector reads (anything but the authors' must fail: the check's negative control)."""
    from stages.authors.imported_lifter import load_imported_lifter
    from stages.lift.augment import FlipGeometry, flip_back, flip_batch

    report = VariantReport(variant.name)
    inputs, reference = fixture.inputs(), fixture.outputs(variant.name)
    backbone = _detector(imported.capf, imported.extract_configs[0], hrnet_levels)
    full = _detector(imported.hrnet, imported.extract_configs[1], hrnet_levels)
    batch = _crop_batch(backbone, inputs["crop_bgr"])
    tensor = backbone.model.data_preprocessor(batch, training=False)["inputs"]
    report.errors["input"] = relative_error(tensor.permute(0, 2, 3, 1).numpy(), inputs["image_tensor"])
    maps = backbone.maps_of_inputs(tensor)
    for level, fmap in enumerate(maps):
        if f"feat_{level}" in reference:
            report.errors[f"feat_{level}"] = relative_error(fmap.numpy(), reference[f"feat_{level}"])
    heatmaps = full.model.head.forward(full.model.extract_feat(tensor))
    report.errors["heatmaps"] = relative_error(heatmaps.numpy(), reference["heatmaps"])

    affines = crop_affines(fixture.frames, backbone.input_size_wh, backbone.crop)
    pose2d, ref_px = lifter_inputs(fixture.frames, affines)
    report.errors["kp2d_norm"] = relative_error(pose2d, inputs["kp2d_norm"])
    report.errors["kp2d_crop_px"] = relative_error(ref_px, inputs["kp2d_crop_px"])
    lifter = load_imported_lifter(imported.capf, backbone.levels, backbone.input_size_wh)
    batch_3d = {"pose2d": torch.from_numpy(pose2d), "ref_px": torch.from_numpy(ref_px), "feats": maps}
    pred = lifter.predict(batch_3d)
    report.errors["pred"] = relative_error(lifter.to_authors_order(pred), reference["pred"])
    if "pred_flip_test" in reference:
        batch_3d["feats_flip"] = backbone.maps_of_inputs(tensor.flip(-1))  # the detector on the mirrored crop
        mirrored = flip_batch(batch_3d, FlipGeometry.of(lifter.model))
        averaged = (pred + flip_back(lifter.predict(mirrored))) / 2
        report.errors["pred_flip_test"] = relative_error(lifter.to_authors_order(averaged),
                                                         reference["pred_flip_test"])
    return report


def check_parity(fixture_dir: Path, *, keep: Path | None = None,
                 progress: Callable[[str], None] = lambda _: None) -> ParityReport:
    """Every variant of the fixture folder; ``keep``: leave the rebuilt and imported files there
    (``<keep>/<variant>/{capf,hrnet}/``, what `capf infer` takes), else a temporary folder."""
    fixture = ParityFixture.open(Path(fixture_dir))
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="capf-parity-"))
    try:
        reports = []
        for variant in fixture.variants.values():
            progress(f"{variant.name}: rebuilding the authors' checkpoint and the official HRNet file, capf import")
            imported = rebuild_and_import(fixture, variant, work / variant.name)
            progress(f"{variant.name}: CAPF's detector and lifter on the fixture's crops")
            reports.append(compare(fixture, variant, imported))
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return ParityReport(Path(fixture_dir), reports)
