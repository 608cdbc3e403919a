# Backbone study (paper App. D, Table 7), CPN-like: mmpose's single-stage MSPN-50 (ResNet-50 with
# CPN's GlobalNet upsampling path), COCO 256x192. mmpose 1.x ships no CPN config; a one-stage MSPN is
# that network. Levels: the four upsample units' outputs, strides 4/8/16/32, 256 channels each
# (the CA-PF authors' CPN levels: 4 x 256 channels, 14,233,411 lifter parameters).
# Weights (mmpose zoo): mspn50_coco_256x192-8fbfb5d0_20201123.pth.
_base_ = ['./h36m_hrnet_w32.py']
detector = dict(name='mspn50',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_mspn50_8xb32-210e_coco-256x192.py')
