# Training recipe for the slim HRNet on the synthetic Human3.6M (`capf train-detector`, `make demo`).
# mmpose/mmengine's own training: CocoDataset on the writer's COCO-style files, MSRA heatmaps, Adam.
# `data_root` is set at run time to the synthetic dataset's folder.
_base_ = ['mmpose::_base_/default_runtime.py', './hrnet_slim_128x96.py']

train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=10)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=100, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', T_max=10, eta_min=1e-5, begin=0, end=10, by_epoch=True),
]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1, save_last=True),
    logger=dict(type='LoggerHook', interval=25))
custom_hooks = []
randomness = dict(seed=0)

# No RandomFlip: the synthetic renderer colours left and right limbs differently, a cue worth keeping.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2), rotate_factor=20),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='GenerateTarget', encoder=dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32),
                                             sigma=1)),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CocoDataset', data_root='', data_mode='topdown', ann_file='train_coco.json',
                 data_prefix=dict(img=''), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type='CocoDataset', data_root='', data_mode='topdown', ann_file='test_coco.json',
                 data_prefix=dict(img=''), test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
# PCK@0.05 of the box size, mmpose's PCKAccuracy (the 2D accuracy reported for the demo detector).
val_evaluator = dict(type='PCKAccuracy', thr=0.05, norm_item='bbox')
test_evaluator = val_evaluator
