# MPI-INF-3DHP (mmpose layout) with HRNet-W48 COCO 256x192 features (paper Table 2, CA-PF-HRNet-48).
# Weights: td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth (mmpose zoo).
_base_ = ['./3dhp_hrnet_w32.py']
detector = dict(name='hrnet_w48',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py')
