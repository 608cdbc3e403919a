"""`capf export CKPT --format onnx`: a lift checkpoint as an ONNX graph (stages.export.onnx_export)."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.options import CapfCommand


@click.command(cls=CapfCommand)
@click.argument("ckpt", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["onnx"]), default="onnx", show_default=True,
              help="What to write.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder (default: <checkpoint dir>/export).")
@click.option("--store", type=click.Path(path_type=Path), default=None,
              help="Feature store whose level shapes the graph takes and whose first frames check onnxruntime "
                   "against torch (default: the checkpoint's training store, when it exists).")
@click.option("--check-frames", type=int, default=64, show_default=True,
              help="Store frames the onnxruntime check runs on (0: no check).")
def export(ckpt, fmt, out, store, check_frames):
    """Write the lifter of CKPT as <run name>.onnx (+ .json: inputs, shapes, checkpoint sha256): a
    single-frame CA-PF takes pose2d, ref_px and one feat_<l> per level; a temporal one its window's
    frames; batch sizes are dynamic. With a store, onnxruntime's output is checked against torch."""
    from stages.export.onnx_export import ONNX_TOLERANCE_M, export_checkpoint
    from stages.infer.lifting import LiftCheckpoint

    if store is None and check_frames > 0:
        recorded = LiftCheckpoint.load(ckpt).meta.get("store_path")
        store = Path(recorded) if recorded and Path(recorded).is_dir() else None
    result = export_checkpoint(ckpt, out or Path(ckpt).parent / "export", store=store if check_frames > 0 else None,
                               check_frames=check_frames)
    click.echo(f"[export] {result.path} ({result.spec.kind}: inputs " +
               ", ".join(f"{name} {tuple(shape)}" for name, shape in result.spec.inputs.items()) + "; output kp3d (B, 17, 3) m)")
    if result.max_abs_diff_m is None:
        click.echo("[export] no store to check onnxruntime against torch on (--store)")
        return
    verdict = "ok" if result.max_abs_diff_m <= ONNX_TOLERANCE_M else "ABOVE the tolerance"
    click.echo(f"[export] onnxruntime vs torch on {result.check_frames} frames of {store}: max |diff| "
               f"{result.max_abs_diff_m * 1000:.5f} mm ({verdict}: {ONNX_TOLERANCE_M * 1000:g} mm)")
    if result.max_abs_diff_m > ONNX_TOLERANCE_M:
        raise click.ClickException(f"{result.path}: onnxruntime differs from torch by {result.max_abs_diff_m:.2e} m")
