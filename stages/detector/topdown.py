"""A real mmpose top-down heatmap detector that also returns its multi-resolution feature maps.

The model is built from an mmpose config (any top-down heatmap model: HRNet-W32/W48, ResNet
SimpleBaseline, ...) and loaded from a local checkpoint. Preprocessing (bbox -> affine crop) and
decoding (heatmap -> keypoints) are mmpose's own: the config's test pipeline and `head.predict`.

Feature levels are read with forward hooks so the model that runs is exactly the checkpoint's:
- HRNet: level 0 is the last stage's fused high-resolution output (what the heatmap head reads);
  levels 1-3 are one of two sets (``hrnet_levels``): ``"stage4_inputs"`` (CAPF's default) the
  tensors that *enter* stage 4 for branches 2-4, or ``"stage4_branch_outputs"`` the outputs of the
  first stage-4 module's branches 2-4 (four basic blocks each), which is what the authors' released
  CA-PF checkpoints read: their HRNet returns its stage-4 input list after the stage has run, and
  their HRModule writes each branch's output back into that list. Turning on `multiscale_output`
  instead would add fuse layers that COCO checkpoints do not have.
- ResNet: the outputs of layer1..layer4 (strides 4, 8, 16, 32).

Pixel convention (shared with mmpose's codecs and the lifting model's sampler): feature pixel u of
a level with stride s sits at detector-input pixel x = u * s, where input pixels are the crop's
array indices (pixel centres at integers). mmpose maps keypoints onto heatmaps by dividing by
input_size / heatmap_size with no half-pixel shift, so `kp2d_input / s` is the map location the
detector itself decoded for a joint.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from cache.key import sha256_file_memo
from cache.store import LevelSpec

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class DetectorError(ValueError):
    """A detector config or checkpoint problem; the message names the file."""


def resolve_config_path(config: str) -> Path:
    """`mmpose::<path>` names a config shipped inside the installed mmpose package."""
    if config.startswith("mmpose::"):
        import mmpose

        path = Path(mmpose.__file__).parent / ".mim" / "configs" / config.split("::", 1)[1]
    else:
        path = Path(config)
        if not path.is_file() and not path.is_absolute() and (PROJECT_ROOT / path).is_file():
            path = PROJECT_ROOT / path  # configs/… names work from any working directory
    if not path.is_file():
        raise DetectorError(f"{path}: detector config not found")
    return path


def load_detector_config(config: str):
    from mmengine.config import Config

    path = resolve_config_path(config)
    try:
        cfg = Config.fromfile(str(path))
    except Exception as error:
        raise DetectorError(f"{path}: cannot parse detector config ({type(error).__name__}: {error})") from error
    if "model" not in cfg or cfg.model.get("type") != "TopdownPoseEstimator":
        raise DetectorError(f"{path}: not an mmpose top-down model config (model.type must be TopdownPoseEstimator)")
    return cfg


def input_size_wh(cfg) -> tuple[int, int]:
    """The detector's input (w, h); multi-stage codecs (MSPN's list) share one input size."""
    codec = cfg.codec[-1] if isinstance(cfg.codec, (list, tuple)) else cfg.codec
    return tuple(int(v) for v in codec["input_size"])


def _test_pipeline(cfg, bbox_padding: float | None = None, crop_affine: str = "mmpose") -> list[dict]:
    """The config's test pipeline; ``bbox_padding`` replaces its ``GetBBoxCenterScale`` padding
    (mmpose's 1.25 enlarges every box; a source whose boxes are already the crop asks for 1.0);
    ``crop_affine='authors'`` swaps ``TopdownAffine`` for the authors' pixel-centre crop
    (:mod:`stages.detector.crop_affine`)."""
    pipeline = [dict(step) for step in (cfg.get("val_pipeline") or cfg.test_dataloader.dataset.pipeline)]
    for step in pipeline:
        if bbox_padding is not None and step["type"] == "GetBBoxCenterScale":
            step["padding"] = float(bbox_padding)
        if crop_affine == "authors" and step["type"] == "TopdownAffine":
            step["type"] = "AuthorsTopdownAffine"
    return pipeline


def feature_config_digest(cfg, hrnet_levels: str | None = None) -> str:
    """Hash of the config parts that determine features and joints: the model and the test
    pipeline (not datasets, schedules or pretrained-weight URLs), and the HRNet level set when it
    is not the default (so stores made before the choice existed keep their keys)."""
    model = copy.deepcopy(cfg.model.to_dict())
    model.get("backbone", {}).pop("init_cfg", None)
    parts = {"model": model, "pipeline": _test_pipeline(cfg)}
    if hrnet_levels not in (None, DEFAULT_HRNET_LEVELS):
        parts["hrnet_levels"] = hrnet_levels
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def has_heatmap_head(cfg) -> bool:
    """A config without a head (a bare backbone, e.g. the one inside the authors' CA-PF checkpoint)
    gives feature maps only; its 2D joints must come from elsewhere (kp2d.source)."""
    return cfg.model.get("head") is not None


def build_pose_model(cfg, flip_test: bool = False) -> torch.nn.Module:
    """The config's mmpose model with random weights (no pretrained download). A config whose
    ``model.head`` is None builds without a head: mmpose's estimators insist on one, so a
    parameter-free stand-in is built and then removed."""
    from mmengine.registry import init_default_scope
    from mmpose.registry import MODELS

    init_default_scope("mmpose")
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.get("backbone", {}).pop("init_cfg", None)
    model_cfg.setdefault("test_cfg", {})["flip_test"] = flip_test
    headless = model_cfg.get("head") is None
    if headless:
        model_cfg["head"] = dict(type="HeatmapHead", in_channels=1, out_channels=1, deconv_out_channels=None,
                                 final_layer=None)
    model = MODELS.build(model_cfg)
    if headless:
        model.head = None
    return model


def verify_checkpoint(checkpoint: Path | None, expected_sha256: str | None, memo_dir: Path | None = None) -> str:
    """sha256 of a local checkpoint (remembered in ``memo_dir`` per path, size and mtime), checked
    against the configured digest when there is one."""
    if checkpoint is None:
        raise DetectorError("no checkpoint given: pass CHECKPOINT=/path/to.pth (or RANDOM_INIT=1 for smoke runs)")
    path = Path(checkpoint)
    if not path.is_file():
        raise DetectorError(f"{path}: checkpoint not found")
    digest = sha256_file_memo(path, memo_dir)
    if expected_sha256 and digest != expected_sha256.lower():
        raise DetectorError(f"{path}: sha256 {digest[:12]}... does not match the configured {expected_sha256[:12]}...")
    return digest


@dataclass(frozen=True)
class LevelTap:
    """Where a feature level is read: a module's output, or one element of its input list."""

    module: str
    kind: str  # "output" or "input"
    element: int | None = None


HRNET_TAPS = (LevelTap("backbone", "output", 0), LevelTap("backbone.stage4", "input", 1),
              LevelTap("backbone.stage4", "input", 2), LevelTap("backbone.stage4", "input", 3))
# The authors' levels 1-3: what the first stage-4 module's branches made of the stage's inputs.
HRNET_BRANCH_OUTPUT_TAPS = (LevelTap("backbone", "output", 0),
                            *(LevelTap(f"backbone.stage4.0.branches.{i}", "output") for i in (1, 2, 3)))
HRNET_LEVEL_SETS = {"stage4_inputs": HRNET_TAPS, "stage4_branch_outputs": HRNET_BRANCH_OUTPUT_TAPS}
DEFAULT_HRNET_LEVELS = "stage4_inputs"
RESNET_TAPS = tuple(LevelTap(f"backbone.layer{i}", "output") for i in range(1, 5))
# CPN-like (single-stage MSPN = ResNet-50 + CPN's GlobalNet): the four upsample units' 256-channel
# outputs, finest first (unit 4 = stride 4 ... unit 1 = stride 32).
MSPN_TAPS = tuple(LevelTap(f"backbone.multi_stage_mspn.0.upsample.up{i}", "output", 0) for i in (4, 3, 2, 1))
# ViTPose: one stride-16 token map; the head's two deconvolutions (after their ReLUs) add the trained
# stride-8 and stride-4 maps, so the levels are strides 4 / 8 / 16 with 256 / 256 / 768 channels.
VIT_TAPS = (LevelTap("head.deconv_layers.5", "output"), LevelTap("head.deconv_layers.2", "output"),
            LevelTap("backbone", "output", 0))


def default_taps(backbone_type: str, hrnet_levels: str = DEFAULT_HRNET_LEVELS) -> tuple[LevelTap, ...]:
    """The feature levels of a backbone; ``hrnet_levels`` picks HRNet's set (module docstring)."""
    if hrnet_levels not in HRNET_LEVEL_SETS:
        raise DetectorError(f"hrnet_levels must be one of {sorted(HRNET_LEVEL_SETS)}, got {hrnet_levels!r}")
    if backbone_type == "HRNet":
        return HRNET_LEVEL_SETS[hrnet_levels]
    if hrnet_levels != DEFAULT_HRNET_LEVELS:
        raise DetectorError(f"hrnet_levels={hrnet_levels!r} is for HRNet backbones, not {backbone_type!r}")
    if backbone_type in ("ResNet", "ResNetV1d"):
        return RESNET_TAPS
    if backbone_type == "MSPN":
        return MSPN_TAPS
    if backbone_type == "mmpretrain.VisionTransformer":
        return VIT_TAPS
    raise DetectorError(f"no default feature levels for backbone {backbone_type!r}; give `levels` taps in the config")


class CropPipeline:
    """mmpose's own test pipeline (box -> center/scale -> affine crop -> packed tensor).

    Separate from the model so loader workers can run it without holding any weights.
    """

    def __init__(self, pipeline_cfg: list[dict]):
        self.pipeline_cfg = pipeline_cfg
        self._pipeline = None

    def __call__(self, image_bgr: np.ndarray, bbox_xyxy: np.ndarray) -> dict:
        """-> {'inputs': (3, H, W) uint8 tensor, 'data_samples': PoseDataSample with input_center/scale}."""
        if self._pipeline is None:
            from mmcv.transforms import Compose
            from mmengine.registry import init_default_scope

            from stages.detector.crop_affine import register_authors_affine

            init_default_scope("mmpose")
            register_authors_affine()
            self._pipeline = Compose(self.pipeline_cfg)
        results = {"img": image_bgr, "bbox": np.asarray(bbox_xyxy, np.float32)[None],
                   "bbox_score": np.ones(1, np.float32)}
        return self._pipeline(results)

    def __getstate__(self):
        return {"pipeline_cfg": self.pipeline_cfg, "_pipeline": None}


class TopdownDetector:
    """Build, load and run an mmpose top-down model; `forward` returns joints and feature maps."""

    def __init__(self, config: str, checkpoint: Path | None, *, checkpoint_sha256: str | None = None,
                 random_init: bool = False, seed: int = 0, device: str = "cpu", flip_test: bool = False,
                 bbox_padding: float | None = None, hrnet_levels: str = DEFAULT_HRNET_LEVELS,
                 crop_affine: str = "mmpose"):
        """checkpoint_sha256: the digest `verify_checkpoint` returned (recorded, not recomputed);
        random_init: skip the checkpoint (tests, smoke runs); the store records `random-init:<seed>`;
        bbox_padding: the frame source's box padding (``FrameIndex.bbox_padding``), None = the config's;
        hrnet_levels: HRNet's levels 1-3 (module docstring); crop_affine: ``"mmpose"`` or the authors'
        pixel-centre crop (``FrameIndex.crop_affine``, :mod:`stages.detector.crop_affine`)."""
        self.cfg = load_detector_config(config)
        self.config_path = resolve_config_path(config)
        self.device = torch.device(device)
        torch.manual_seed(seed)
        self.model = build_pose_model(self.cfg, flip_test)
        if random_init:
            self.checkpoint_sha256 = f"random-init:{seed}"
        else:
            self.checkpoint_sha256 = checkpoint_sha256 or verify_checkpoint(checkpoint, None)
            self._load_checkpoint(Path(checkpoint))
        self.model.to(self.device).eval()
        self.crop_affine = crop_affine
        self.crop = CropPipeline(_test_pipeline(self.cfg, bbox_padding, crop_affine))
        self.input_size_wh = input_size_wh(self.cfg)
        self.taps = default_taps(self.cfg.model.backbone.type, hrnet_levels)
        self.has_head = has_heatmap_head(self.cfg)
        self._captured: dict[int, torch.Tensor] = {}
        self._register_hooks()
        self.levels = self._probe_levels()

    def _load_checkpoint(self, path: Path) -> None:
        """Load strictly: every parameter and buffer the model uses must come from the file."""
        try:
            raw = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:
            raise DetectorError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error
        state = raw.get("state_dict", raw) if isinstance(raw, dict) else None
        if not isinstance(state, dict):
            raise DetectorError(f"{path}: checkpoint holds no state_dict")
        state = {k.removeprefix("module."): v for k, v in state.items()}
        own = self.model.state_dict()
        wrong = [k for k, v in state.items() if k in own and tuple(getattr(v, "shape", ())) != tuple(own[k].shape)]
        if wrong:
            raise DetectorError(f"{path}: {len(wrong)} tensors have another shape than this config's model (first: "
                                f"{wrong[0]} is {tuple(state[wrong[0]].shape)}, the model's "
                                f"{tuple(own[wrong[0]].shape)}); is it for this config?")
        result = self.model.load_state_dict(state, strict=False)
        missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
        if missing:
            raise DetectorError(f"{path}: checkpoint lacks {len(missing)} of the model's tensors "
                                f"(first: {missing[0]}); is it for this config?")
        if result.unexpected_keys:
            log.warning("%s: %d tensors unused by this config (first: %s)", path,
                        len(result.unexpected_keys), result.unexpected_keys[0])

    def _register_hooks(self) -> None:
        modules = dict(self.model.named_modules())
        for i, tap in enumerate(self.taps):
            module = modules.get(tap.module)
            if module is None:
                raise DetectorError(f"{self.config_path}: the model has no module {tap.module!r} for level {i}")
            if tap.kind == "input":
                # HRModule mutates its input list in place: keep the tensor that entered the stage.
                def pre_hook(_module, args, i=i, tap=tap):
                    self._captured[i] = args[0][tap.element]
                module.register_forward_pre_hook(pre_hook)
            else:
                def hook(_module, _args, output, i=i, tap=tap):
                    self._captured[i] = output if tap.element is None else output[tap.element]
                module.register_forward_hook(hook)

    def _head_features(self, feats) -> None:
        """Run the head once on the unflipped features when a level is tapped inside it (ViTPose)."""
        if any(tap.module.startswith("head.") for tap in self.taps):
            self.model.head.forward(feats)

    @torch.no_grad()
    def _probe_levels(self) -> tuple[LevelSpec, ...]:
        width, height = self.input_size_wh
        self._head_features(self.model.extract_feat(torch.zeros(1, 3, height, width, device=self.device)))
        levels = []
        for i in range(len(self.taps)):
            _, channels, h, w = self._captured[i].shape
            levels.append(LevelSpec(name=str(i), stride=width // w, channels=channels, height=h, width=w))
        return tuple(levels)

    @torch.no_grad()
    def backbone_maps(self, batch: dict) -> list[torch.Tensor]:
        """The feature levels of a packed batch, on the device, as the backbone made them (float32,
        (B, C_l, H_l, W_l)): the authors' online design runs this at every training step."""
        return self.maps_of_inputs(self.model.data_preprocessor(batch, training=False)["inputs"])

    @torch.no_grad()
    def maps_of_inputs(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The feature levels (float32, (B, C_l, H_l, W_l)) of preprocessed inputs (B, 3, H_in, W_in)."""
        self._captured.clear()
        self._head_features(self.model.extract_feat(inputs))
        return [self._captured[i] for i in range(len(self.taps))]

    @torch.no_grad()
    def mirrored_maps(self, batch: dict) -> dict[str, np.ndarray]:
        """``feat/<l>`` (B, C_l, H_l, W_l) fp16 of the horizontally mirrored crops: the preprocessed
        crop flipped along W and run through the detector, i.e. what the detector sees for the
        mirrored image (the authors' flip augmentation and flip test), each map in the mirrored
        crop's own pixel frame (crop pixel x of the original is W_in - 1 - x there). Not the mirror
        of ``forward``'s maps: channels carry left/right meaning (DESIGN.md)."""
        inputs = self.model.data_preprocessor(batch, training=False)["inputs"]
        self._captured.clear()
        self._head_features(self.model.extract_feat(inputs.flip(-1)))
        return {f"feat/{level.name}": self._captured[i].to(torch.float16).cpu().numpy()
                for i, level in enumerate(self.levels)}

    @torch.no_grad()
    def forward(self, batch: dict) -> dict[str, np.ndarray]:
        """One batch from `CropPipeline` (pseudo-collated) -> per-frame arrays:
        feat/<l> (B, C_l, H_l, W_l) fp16, det_kp2d and det_kp2d_input (B, 17, 2), det_score (B, 17),
        affine (B, 2, 3) image -> input."""
        data = self.model.data_preprocessor(batch, training=False)
        inputs, samples = data["inputs"], data["data_samples"]
        self._captured.clear()
        feats = self.model.extract_feat(inputs)
        self._head_features(feats)
        maps = [self._captured[i].to(torch.float16).cpu().numpy() for i in range(len(self.taps))]
        if not self.has_head:
            return self._maps_only(maps, samples)
        if self.model.test_cfg.get("flip_test", False):
            feats = [feats, self.model.extract_feat(inputs.flip(-1))]
        preds = self.model.head.predict(feats, samples, test_cfg=self.model.test_cfg)
        if isinstance(preds, tuple):
            preds = preds[0]
        kp_input = np.stack([np.asarray(p.keypoints[0], np.float32) for p in preds])
        scores = np.stack([np.asarray(p.keypoint_scores[0], np.float32) for p in preds])
        centers = np.stack([np.asarray(s.metainfo["input_center"], np.float32).reshape(2) for s in samples])
        scales = np.stack([np.asarray(s.metainfo["input_scale"], np.float32).reshape(2) for s in samples])
        size = np.asarray(self.input_size_wh, np.float32)
        affine = self._affines(centers, scales)
        if self.crop_affine == "mmpose":
            # mmpose's TopdownPoseEstimator.add_pred_to_datasample: input space -> image space.
            kp_image = kp_input / size * scales[:, None] + centers[:, None] - 0.5 * scales[:, None]
        else:  # the inverse of the crop that was made
            inverse = np.stack([cv2.invertAffineTransform(a.astype(np.float64)) for a in affine])
            kp_image = np.einsum("nij,nkj->nki", inverse[:, :, :2], kp_input) + inverse[:, None, :, 2]
        out = {f"feat/{level.name}": m for level, m in zip(self.levels, maps)}
        out.update(det_kp2d=kp_image.astype(np.float32), det_kp2d_input=kp_input, det_score=scores, affine=affine)
        return out

    def _affines(self, centers: np.ndarray, scales: np.ndarray) -> np.ndarray:
        """(B, 2, 3) float32 image -> input transforms of the crops made at these centres/scales."""
        from stages.detector.crop_affine import warp_matrix

        return np.stack([warp_matrix(c, s, tuple(self.input_size_wh), self.crop_affine)
                         for c, s in zip(centers, scales)]).astype(np.float32)

    def _maps_only(self, maps: list[np.ndarray], samples) -> dict[str, np.ndarray]:
        """``forward``'s arrays for a model without a heatmap head: the maps and the crop's affine;
        the detector's joints are NaN (score 0), the caller's 2D source replaces them."""
        affine = self._affines(np.stack([np.asarray(s.metainfo["input_center"], np.float32).reshape(2) for s in samples]),
                               np.stack([np.asarray(s.metainfo["input_scale"], np.float32).reshape(2) for s in samples]))
        nan = np.full((len(samples), 17, 2), np.nan, np.float32)
        out = {f"feat/{level.name}": m for level, m in zip(self.levels, maps)}
        out.update(det_kp2d=nan, det_kp2d_input=nan.copy(), det_score=np.zeros((len(samples), 17), np.float32),
                   affine=affine)
        return out
