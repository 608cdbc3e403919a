"""Pictures of the learned deformable sampling (the paper's Fig. 4 and Fig. 9): for a frame, the
detector's crop with, per feature level, the points the last Deformable Context Extraction layer
sampled around every joint, brighter where the attention weight is higher.

The points come from the model itself through ``DeformableContextLayer.register_sampling_hook``
while the lifter runs on the frame's records of the store (the same batch assembly as inference),
and are mapped back to crop pixels with ``stages.lift.sampling.grid_to_ref_px``; the crop is the
frame warped with the record's stored affine, i.e. the very pixels the detector saw.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from cache.store import FeatureStore
from stages.infer.lifting import Lifter
from stages.lift.dataset import CacheBatchDataset, to_device
from stages.lift.runtime import forward_batch
from stages.lift.sampling import grid_to_ref_px


def sampling_points(lifter: Lifter, store_path: Path, records: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the last deformable layer sampled, for ``records`` (ascending store indices).

    Returns ``(R, L, J, H*P, 2)`` crop pixels, ``(R, L, J, H*P)`` attention weights (each head's
    weights sum to 1 over its P points) and the reference joints ``(R, J, 2)`` in crop pixels.
    """
    model = lifter.model
    if model.deformable is None:
        raise ValueError(f"the lifter has no deformable sampling (context={model.context!r}); "
                         "--show-sampling needs a full CA-PF checkpoint")
    dataset = CacheBatchDataset(store_path, np.asarray(records, dtype=np.int64), lifter.geometry.names)
    captured: list[tuple[torch.Tensor, torch.Tensor]] = []
    handle = model.deformable.layers[-1].register_sampling_hook(lambda _layer, loc, w: captured.append((loc, w)))
    try:
        batch = to_device(dataset[np.arange(len(dataset))], lifter.device)
        with torch.no_grad():
            model.eval()
            forward_batch(model, batch)
    finally:
        handle.remove()
    loc, weights = captured[-1]
    level_hw = [tuple(shape[-2:]) for shape in dataset.level_shapes]
    pixels = torch.stack([grid_to_ref_px(loc[:, i].float(), level=i, level_hw=level_hw,
                                         level_strides=model.level_strides, input_size_wh=model.input_size_wh,
                                         convention=model.ref_convention)
                          for i in range(loc.shape[1])], dim=1)
    r, l, j = weights.shape[:3]
    return pixels.cpu().numpy(), weights.reshape(r, l, j, -1).float().cpu().numpy(), dataset.inputs.ref_px


def crops(image_bgr: np.ndarray, affines: np.ndarray, input_size_wh: tuple[int, int]) -> list[np.ndarray]:
    """The detector's crops of one frame, ``(H_in, W_in, 3)`` RGB each, from the stored affines."""
    return [cv2.cvtColor(cv2.warpAffine(image_bgr, np.asarray(a, np.float64), tuple(input_size_wh),
                                        flags=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB) for a in affines]


def write_sampling_picture(path: Path, lifter: Lifter, store_path: Path, records: np.ndarray, image_bgr: np.ndarray,
                           tracks: np.ndarray, title: str) -> Path:
    """One PNG: a row per person (record) of the frame, a column per feature level."""
    store = FeatureStore.open(store_path)
    pixels, weights, ref_px = sampling_points(lifter, store_path, records)
    crop_list = crops(image_bgr, store.read("affine")[records], lifter.model.input_size_wh)
    levels = lifter.geometry.levels
    rows, cols = len(records), len(levels)
    figure = Figure(figsize=(3.0 * cols, 3.9 * rows + 0.3), dpi=110)
    FigureCanvasAgg(figure)
    for r in range(rows):
        for c, level in enumerate(levels):
            ax = figure.add_subplot(rows, cols, r * cols + c + 1)
            ax.imshow((crop_list[r] * 0.55).astype(np.uint8))
            ax.scatter(ref_px[r, :, 0], ref_px[r, :, 1], marker="o", facecolors="none", edgecolors="cyan", s=14,
                       linewidths=0.6)  # the joints (reference points), under the sampled points
            points, w = pixels[r, c].reshape(-1, 2), weights[r, c].reshape(-1)
            order = np.argsort(w)  # brightest on top
            ax.scatter(points[order, 0], points[order, 1], c=w[order] / max(w.max(), 1e-9), cmap="hot", vmin=0,
                       vmax=1, s=5, linewidths=0)
            ax.set_xlim(-0.5, lifter.model.input_size_wh[0] - 0.5)
            ax.set_ylim(lifter.model.input_size_wh[1] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"#{int(tracks[r])} level {level.name} (stride {level.stride})", fontsize=7)
    figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    return Path(path)
