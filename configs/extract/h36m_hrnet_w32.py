# Stage one on Human3.6M (mmpose annotation layout) with mmpose's COCO HRNet-W32 256x192.
# Official weights: mmpose model zoo, "td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth"
# (https://download.openmmlab.com/mmpose/v1/body_2d_keypoint/topdown_heatmap/coco/); pass it as CHECKPOINT=.
detector = dict(
    name='hrnet_w32',
    config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py',
    checkpoint_sha256=None,  # set the file's sha256 to have it verified before any work
    flip_test=False,         # features come from the unflipped pass either way
    seed=0,                  # weights seed for --random-init smoke runs only
)
# train_frame_step=k keeps every k-th frame of each training video (test subjects S9/S11 keep all)
dataset = dict(type='h36m', name='h36m', annotation='test_h36m_body3d.npz', cameras='cameras.pkl',
               train_frame_step=1)
kp2d = dict(source='detector')  # the detector's own COCO-17 joints (converted to H36M-17 by the lifter)
# compression: or 'blosc-zstd' (~0.6x bytes, slower random reads); dtype: or 'int8' (uint8 codes with a
# per-(frame, channel) scale: 0.51x the bytes, ~0.25 % error; see README "Dataset scale")
cache = dict(shard_frames=256, compression='none', dtype='float16')
runtime = dict(batch_size=32, num_workers=2, device='auto')
