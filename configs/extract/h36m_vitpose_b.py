# Backbone study (paper App. D, Table 7): ViTPose-B, COCO 256x192 (needs mmpretrain, installed by
# `make setup`, for the mmpretrain.VisionTransformer backbone). ViT is single-scale: its tokens form
# one stride-16 map (768 channels); the levels are that map plus the heatmap head's two trained
# deconvolution outputs (after their ReLUs), strides 8 and 4 with 256 channels each. Levels 0/1/2 =
# strides 4/8/16. Weights (mmpose zoo): td-hm_ViTPose-base_8xb64-210e_coco-256x192-216eae50_20230314.pth.
_base_ = ['./h36m_hrnet_w32.py']
detector = dict(name='vitpose_b',
                config='mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_ViTPose-base_8xb64-210e_coco-256x192.py')
