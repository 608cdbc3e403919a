# SimpleBaseline ResNet-50 COCO 256x192 (mmpose zoo: td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth).
# Levels: outputs of layer1..layer4 (strides 4/8/16/32, 256/512/1024/2048 channels).
_base_ = ['./h36m_hrnet_w32.py']
detector = dict(name='res50',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py')
