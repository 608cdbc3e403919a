# PoseFormer (Zheng et al. 2021) as its paper builds it, on the same store's 2D joints: per frame,
# each joint's 2D embedded to 32, a spatial transformer over the 17 joints (4 layers, 8 heads,
# MLP ratio 2), LayerNorm; the frame's 17 x 32 = 544 values are one temporal token: a temporal
# transformer over T frame tokens (4 layers, 8 heads), a 1D convolution over the frames (its
# "weighted mean"), LayerNorm + Linear(544 -> 17 x 3). No image features.
_base_ = ['../capf/capf_hrnet32_h36m_cpn2d.py']
model = dict(
    _delete_=True,
    type='PoseFormer',
    frames=27,
    levels=[0, 1, 2, 3],         # the store's geometry only; PoseFormer reads no features
    joint_dim=32,
    depth=4,
    spatial_heads=8,
    temporal_depth=4,
    temporal_heads=8,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
)
train = dict(lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, in_memory=True)
