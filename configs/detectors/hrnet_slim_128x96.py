# A slim 4-branch HRNet (widths 16/32/64/128, one module per stage, two blocks per branch) at
# 128x96 input: the same mmpose TopdownPoseEstimator + HeatmapHead as the COCO models, small enough
# to train on CPU in minutes (the synthetic closed loop, `make demo`) and to run fast in tests.
codec = dict(type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(2, ), num_channels=(32, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(2, 2), num_channels=(16, 32)),
            stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(2, 2, 2),
                        num_channels=(16, 32, 64)),
            stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(2, 2, 2, 2),
                        num_channels=(16, 32, 64, 128)))),
    head=dict(
        type='HeatmapHead',
        in_channels=16,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=False, flip_mode='heatmap', shift_heatmap=True))

val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
