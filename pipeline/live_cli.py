"""`capf live SOURCE`: a camera, stream or video file lifted to 3D frame by frame (stages/live)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.options import CapfCommand, lift_model_options


@click.command(cls=CapfCommand)
@click.argument("source", required=False)
@click.option("--pace", type=click.Choice(["realtime", "none"]), default="realtime", show_default=True,
              help="A video file at its own frame rate (frames the pipeline cannot keep up with are skipped "
                   "and counted), or as fast as the pipeline takes frames (none skipped).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="JSON lines file (default: stdout; the messages then go to stderr).")
@click.option("--video", type=click.Path(path_type=Path), default=None, help="Write the side-by-side view here (.mp4).")
@click.option("--show", is_flag=True, help="Show the side-by-side view in a window (when a display exists).")
@lift_model_options
@click.option("--max-people", type=int, default=None, help="At most this many people per frame (highest scores).")
@click.option("--max-frames", type=int, default=None, help="Stop after this many frames of the source.")
@click.option("--kpt-thr", type=float, default=0.3, help="Joint confidence that counts, for boxes from the 2D detector.")
@click.option("--bbox-thr", type=float, default=0.3, help="Score threshold of the mmdet person detector.")
@click.option("--iou-thr", type=float, default=0.3, help="IoU that continues a track from one frame to the next.")
@click.option("--demo-dir", type=click.Path(path_type=Path), default=Path("work_dirs/demo"),
              help="The demo's folder (its models are the default).")
@click.option("--device", default="auto", help="cpu, cuda, cuda:1 … (auto: cuda if available).")
def live(source, pace, out, video, show, ckpt, lift_config, detector_checkpoint, detector_config, random_init,
         person_config, person_checkpoint, max_people, max_frames, kpt_thr, bbox_thr, iou_thr, demo_dir, device):
    """Lift SOURCE to 3D as it arrives: a camera index (0), a device (/dev/video0), a stream URL OpenCV
    opens (rtsp://…) or a video file (none: the demo's synthetic clip, rendered if missing). JSON lines
    out; Ctrl-C (or the end of a file) prints the summary."""
    from pipeline.infer import demo_clip, resolve_models
    from stages.infer.person_tracks import BoxSettings
    from stages.live.app import LiveRequest, start_live
    from stages.live.session import format_summary

    for name, value in (("--max-people", max_people), ("--max-frames", max_frames)):
        if value is not None and value < 1:
            raise click.BadParameter("must be at least 1", param_hint=name)
    _check_out(out)
    if source is None:
        source = str(demo_clip(demo_dir))
    boxes = BoxSettings(person_config=person_config, person_checkpoint=person_checkpoint, max_people=max_people,
                        kpt_thr=kpt_thr, bbox_thr=bbox_thr, iou_thr=iou_thr)
    request = LiveRequest(source=source, pace=pace, out=out, video=video, show=show, max_frames=max_frames,
                          device=device, boxes=boxes)

    def say(line: str) -> None:  # stdout carries the JSON lines when there is no --out
        click.echo(f"[live] {line}", err=out is None)

    models = resolve_models(ckpt=ckpt, lift_config=lift_config, detector_config=detector_config,
                            detector_checkpoint=detector_checkpoint, random_init=random_init, demo_dir=demo_dir)
    summary = start_live(request, models, say=say, stream=sys.stdout)
    for line in format_summary(summary):
        say(line)
    if summary.get("stopped_early"):
        raise click.ClickException(summary["stopped_early"])


def _check_out(out: Path | None) -> None:
    """Refuse to overwrite a file that is not an earlier run's JSON lines (nothing a user wrote is lost)."""
    if out is None or not out.exists():
        return
    if out.is_dir():
        raise click.ClickException(f"{out}: is a folder; --out names the JSON lines file")
    with open(out, "rb") as handle:
        first = handle.readline(4096)
    if first and b'"format": "capf-live-' not in first:
        raise click.ClickException(f"{out}: exists and is not an earlier `capf live` output; choose another --out")
