"""The deformable layer's sampling hook (what `capf infer --show-sampling` draws) and the grid -> pixel map."""

import pytest
import torch

from stages.lift.deformable import init_offset_bias
from stages.lift.model import ContextAwarePoseFormer
from stages.lift.sampling import grid_to_ref_px, ref_px_to_grid

STRIDES, CHANNELS, INPUT_WH = (4, 8), (8, 16), (48, 64)


def _model(**kw):
    return ContextAwarePoseFormer(level_channels=CHANNELS, level_strides=STRIDES, input_size_wh=INPUT_WH,
                                  embed_dim=16, depth=2, spatial_heads=4, fusion_heads=4, drop_path_rate=0.0,
                                  **kw).eval()


def _inputs(batch=3):
    g = torch.Generator().manual_seed(0)
    w, h = INPUT_WH
    feats = [torch.randn(batch, c, h // s, w // s, generator=g) for c, s in zip(CHANNELS, STRIDES)]
    ref_px = torch.rand(batch, 17, 2, generator=g) * torch.tensor([w - 1.0, h - 1.0])
    return torch.rand(batch, 17, 2, generator=g) * 2 - 1, feats, ref_px


@pytest.mark.parametrize("convention", ["mmpose", "authors"])
def test_grid_to_ref_px_inverts_ref_px_to_grid(convention):
    ref = torch.rand(2, 17, 2, dtype=torch.float64) * torch.tensor([47.0, 63.0])
    hw = [(64 // s, 48 // s) for s in STRIDES]
    grid = ref_px_to_grid(ref, level_hw=hw, level_strides=STRIDES, input_size_wh=INPUT_WH, convention=convention)
    for level in range(len(STRIDES)):
        back = grid_to_ref_px(grid[:, level], level=level, level_hw=hw, level_strides=STRIDES,
                              input_size_wh=INPUT_WH, convention=convention)
        torch.testing.assert_close(back, ref)


def test_hook_sees_the_sampling_of_every_forward_until_removed():
    model = _model()
    pose2d, feats, ref_px = _inputs()
    seen = []
    layer = model.deformable.layers[0]
    handle = layer.register_sampling_hook(lambda lyr, loc, w: seen.append((lyr, loc, w)))
    with torch.no_grad():
        out = model(pose2d, feats, ref_px)
    assert len(seen) == 1 and seen[0][0] is layer
    _, loc, weights = seen[0]
    assert loc.shape == (3, 2, 17, 16, 2) and weights.shape == (3, 2, 17, 4, 4)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 17, 4))
    # fresh layer: uniform weights, and points at the reference plus the initial offsets
    torch.testing.assert_close(weights, torch.full_like(weights, 0.25))
    grid = model.reference_grid(ref_px, [tuple(f.shape[-2:]) for f in feats])
    offsets = torch.tanh(init_offset_bias(4, 4)).view(16, 2)
    torch.testing.assert_close(loc, grid.unsqueeze(3) + offsets)
    handle.remove()
    with torch.no_grad():
        again = model(pose2d, feats, ref_px)
    assert len(seen) == 1  # removed: not called again
    torch.testing.assert_close(again, out)  # and the hook never changed the result
