# The official 3DHP training + test sets (see 3dhp_hrnet_w32_official_train.py) with HRNet-W48 features.
_base_ = ['./3dhp_hrnet_w32_official_train.py']
detector = dict(name='hrnet_w48',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py')
