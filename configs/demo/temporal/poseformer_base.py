# PoseFormer (configs/temporal/poseformer_base.py) at a quarter of its width for 2 shared CPU cores,
# as the demo's CA-PF-S: 8 per joint (frame tokens of 17 x 8 = 136), one spatial and one temporal
# layer, 4 heads; the same schedule and tuning as capf_s_base.py, on the same store's 2D joints.
_base_ = ['../step3_full.py']
model = dict(
    _delete_=True,
    type='PoseFormer',
    frames=27,
    levels=[0, 1, 2, 3],
    joint_dim=8,
    depth=1,
    spatial_heads=4,
    temporal_depth=1,
    temporal_heads=4,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
)
train = dict(epochs=4, batch_size=64, lr=1e-3, lr_decay=0.96, weight_decay=0.05, offset_lr_mult=1.0,
             val_interval=1000)
