"""``results_<name>.json`` against mmpose's own body3d demo, not against CAPF's reading of it.

mmpose installs ``demo/body3d_pose_lifter_demo.py`` (under ``.mim/demo``). Its post-processing of the
lifted instances (axes, height rebase, order by track id, merge) is taken from its
``process_one_image`` as it stands and run on the very instances CAPF writes; the file is then
assembled as the demo's ``main`` does (``split_instances`` per frame counted from 1, the lifter's
``dataset_meta``, json_tricks), with the meta of a real mmpose Human3.6M lifter built from its config.
Both files are read back as a consumer would (json_tricks) and must hold the same values."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace

import json_tricks
import mmpose
import numpy as np
from mmengine.structures import InstanceData
from mmpose.apis import init_model
from mmpose.structures import PoseDataSample, merge_data_samples, split_instances

from stages.infer.outputs import Predictions, write_results_json

MIM = Path(mmpose.__file__).parent / ".mim"
DEMO = MIM / "demo" / "body3d_pose_lifter_demo.py"
H36M_LIFTER = MIM / "configs/body_3d_keypoint/image_pose_lift/h36m/image-pose-lift_tcn_8xb64-200e_h36m.py"


def _demo_post_processing():
    """The statements of the demo's ``process_one_image`` from its loop over ``pose_lift_results``
    to ``pred_3d_instances = ...``, compiled as they are."""
    tree = ast.parse(DEMO.read_text())
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "process_one_image")
    body = function.body
    start = next(i for i, s in enumerate(body)
                 if isinstance(s, ast.For) and "pose_lift_results" in ast.unparse(s.iter))
    stop = next(i for i, s in enumerate(body)
                if isinstance(s, ast.Assign) and ast.unparse(s.targets[0]) == "pred_3d_instances")
    return compile(ast.Module(body=body[start:stop + 1], type_ignores=[]), str(DEMO), "exec")


def _demo_frame(code, preds: Predictions, rows: np.ndarray):
    """What the demo's ``process_one_image`` returns as ``pred_3d_instances`` for one frame's people,
    given the lifter's output in its convention: camera-frame metres, (1, 17, 3) per person."""
    estimates, lifted = [], []
    for row in rows:
        estimate = PoseDataSample(pred_instances=InstanceData(keypoints=preds.kp2d[row][None].astype(np.float64),
                                                              keypoint_scores=preds.kp2d_score[row][None]))
        estimate.set_field(int(preds.track[row]), "track_id")
        estimates.append(estimate)
        lifted.append(PoseDataSample(pred_instances=InstanceData(
            keypoints=preds.kp3d_mm[row][None].astype(np.float64) / 1000.0,
            keypoint_scores=preds.kp2d_score[row][None], bboxes=preds.box[row][None],
            bbox_scores=preds.box_score[row][None])))
    scope = {"np": np, "merge_data_samples": merge_data_samples, "args": SimpleNamespace(disable_rebase_keypoint=False),
             "pose_lift_results": lifted, "pose_est_results": estimates}
    exec(code, scope)
    return scope["pred_3d_instances"]


def _predictions() -> Predictions:
    rng = np.random.default_rng(3)
    r = 5
    kp3d = rng.uniform(-600, 600, (r, 17, 3)).astype(np.float32)
    kp3d[:, 10, 1] -= 900  # heads above the pelvis (camera y points down)
    return Predictions(frame=np.array([0, 0, 1, 3, 3]), track=np.array([2, 0, 0, 1, 0]),
                       box=rng.uniform(0, 300, (r, 4)).astype(np.float32),
                       box_score=rng.uniform(0.3, 1, r).astype(np.float32),
                       kp2d=rng.uniform(0, 300, (r, 17, 2)).astype(np.float32),
                       kp2d_score=rng.uniform(0, 1, (r, 17)).astype(np.float32), kp3d_mm=kp3d, gt3d_mm=None,
                       attrs={})


def _plain(value):
    """json_tricks' numpy arrays and tuples as nested lists, for comparing two readings."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _assert_same(ours, theirs, where: str = "") -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        missing = set(theirs) - set(ours)
        assert not missing, f"{where}: CAPF lacks {sorted(missing)}"
        for key in theirs:
            _assert_same(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), (where, ours, theirs)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _assert_same(a, b, f"{where}[{i}]")
    elif isinstance(theirs, float):
        assert abs(ours - theirs) <= 1e-6 * max(1.0, abs(theirs)), (where, ours, theirs)
    else:
        assert ours == theirs, (where, ours, theirs)


def test_results_json_holds_what_mmposes_body3d_demo_writes_for_the_same_people(tmp_path):
    preds = _predictions()
    frames = 4
    write_results_json(tmp_path / "capf.json", preds, num_frames=frames, single_image=False)

    code = _demo_post_processing()
    lifter = init_model(str(H36M_LIFTER), None, device="cpu")
    instance_info = []
    for frame_idx in range(1, frames + 1):  # the demo counts video frames from 1
        rows = np.flatnonzero(preds.frame == frame_idx - 1)
        pred_3d_instances = _demo_frame(code, preds, rows) if len(rows) else None
        instance_info.append(dict(frame_id=frame_idx, instances=split_instances(pred_3d_instances)))
    (tmp_path / "demo.json").write_text(json_tricks.dumps(
        dict(meta_info=lifter.dataset_meta, instance_info=instance_info), indent="\t"))

    ours = _plain(json_tricks.loads((tmp_path / "capf.json").read_text()))
    theirs = _plain(json_tricks.loads((tmp_path / "demo.json").read_text()))
    _assert_same(ours, theirs)
    # CAPF adds each person's track id; nothing else beyond the demo's keys
    extra = {key for frame in ours["instance_info"] for person in frame["instances"] for key in person} - {
        key for frame in theirs["instance_info"] for person in frame["instances"] for key in person}
    assert extra == {"track_id"}
    # and a plain JSON reader gets lists, not json_tricks' array objects, from CAPF's file
    assert isinstance(json.loads((tmp_path / "capf.json").read_text())["meta_info"]["flip_indices"], list)
