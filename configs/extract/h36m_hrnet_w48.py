# HRNet-W48 COCO 256x192 (mmpose zoo: td-hm_hrnet-w48_8xb32-210e_coco-256x192-0e67c616_20220913.pth).
_base_ = ['./h36m_hrnet_w32.py']
detector = dict(name='hrnet_w48',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py')
