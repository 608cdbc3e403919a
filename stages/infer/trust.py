"""Say it when the models cannot be trusted on the input: synthetic-trained models on real footage.

The demo's slim HRNet and lifter learn from CAPF's synthetic people only. On a real video they
still draw confident-looking skeletons (a parked van became the only "person" track of a street
clip), so ``capf infer`` and ``capf live`` print one line saying the outputs mean nothing for real
people, and write the same line into their files.

Models count as synthetic-trained when their own records say so, whoever passes them: the lift
config's dataset, the lifter's training store (its content key records the dataset name) or the
detector's name is one of the synthetic writers' (``synth_h36m``, ``synth_3dhp``: names starting
with ``synth``), or no checkpoint was given (the demo's models). The input counts as synthetic only
when it is a clip the synthetic clip writer rendered: a video with both of that writer's sidecars
(ground truth and annotated boxes) beside it.
"""

from __future__ import annotations

from pathlib import Path

from stages.infer.detector_choice import DetectorChoice, training_store_attrs

SYNTHETIC_PREFIX = "synth"
AUTHORS_WEIGHTS_DOC = "docs/authors_weights.md"


def synthetic_training(cfg: dict, meta: dict, detector: DetectorChoice, *, demo: bool) -> str | None:
    """Why the lifter and detector count as trained on CAPF's synthetic world, or None."""
    dataset = (cfg.get("dataset") or {}).get("name")
    store_dataset = ((training_store_attrs(meta) or {}).get("key_inputs") or {}).get("dataset")
    for label, name in (("its config's dataset", dataset), ("its training store's dataset", store_dataset)):
        if isinstance(name, str) and name.startswith(SYNTHETIC_PREFIX):
            return f"the lifter was trained on CAPF's synthetic people ({label} is {name!r})"
    if SYNTHETIC_PREFIX in (detector.name or ""):
        return f"the 2D detector {detector.name!r} was trained on CAPF's synthetic people"
    if demo:
        return "these are the demo's models, trained on CAPF's synthetic people"
    return None


def is_synthetic_clip(path: Path | None) -> bool:
    """A video the synthetic clip writer rendered (its ground-truth and boxes sidecars beside it)."""
    from stages.synth.clip import annotated_boxes_path, ground_truth_path

    if path is None:
        return False
    path = Path(path)
    return path.is_file() and ground_truth_path(path).is_file() and annotated_boxes_path(path).is_file()


def untrusted_models_warning(reason: str | None, input_label: str, *, synthetic_input: bool) -> str | None:
    """The one line to print and record, or None when the models fit the input."""
    if reason is None or synthetic_input:
        return None
    return (f"WARNING: {reason}; on {input_label} (not CAPF's synthetic clip) the boxes, 2D and 3D it draws mean "
            f"nothing for real people. For real footage use the authors' weights: see \"Using the authors' weights\" "
            f"({AUTHORS_WEIGHTS_DOC})")
