# CA-PF-S (configs/temporal/capf_s_base.py) at a quarter of its width for 2 shared CPU cores, on the
# demo's synthetic store: C = 8 (per-joint temporal token (L+1)*C = 40), one layer per per-frame
# module, one temporal layer. lr: tuned on a validation split of the training videos (configs/demo/temporal/
# study.py; `capf ablate --study temporal` tunes and then trains with the winner).
# Training runs to the last epoch and is evaluated once, there (val_interval=1000): the test
# split never picks an epoch.
_base_ = ['../step3_full.py']
model = dict(
    _delete_=True,
    type='ContextAwarePoseFormerS',
    context='fusion',
    frames=27,
    levels=[0, 1, 2, 3],
    embed_dim=8,
    depth=1,
    spatial_heads=4,
    fusion_heads=2,
    temporal_depth=1,
    temporal_heads=4,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
    ref_convention='mmpose',
)
train = dict(epochs=4, batch_size=64, lr=1e-3, lr_decay=0.96, weight_decay=0.05, offset_lr_mult=1.0,
             val_interval=1000, flip_features='extracted')  # mirrored batches: the detector on the mirrored crops
eval = dict(flip_features='extracted')
