# Temporal CA-PF-S at the demo's width for CPU (configs/temporal/capf_s_base.py is the paper-size
# one): C = 32, 2 layers per per-frame module, frame tokens of 17 x 8, one temporal layer, on the
# demo's synthetic store (sized so the 10-config study runs on 2 shared CPU cores). Batches of 32 for
# 20 epochs = 1,500 steps: with batches of 128, 6 epochs (114 steps) left every model at the mean
# pose, and 10 epochs of 32 (750 steps) were still improving and noisy between seeds.
# `capf ablate --study temporal` trains the 10 configs here (T = 1, 3, 9, 27, 81 x CA-PF-S, PoseFormer).
_base_ = ['../step3_full.py']
model = dict(
    _delete_=True,
    type='TemporalPoseFormer',
    context='fusion',
    frames=27,
    levels=[0, 1, 2, 3],
    embed_dim=32,
    depth=2,
    spatial_heads=4,
    fusion_heads=4,
    temporal_joint_dim=8,
    temporal_depth=1,
    temporal_heads=4,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
    ref_convention='mmpose',
)
train = dict(epochs=20, batch_size=32, lr=1e-3, offset_lr_mult=1.0, window_chunk=32)  # an 81-frame batch encodes ~112 frames
