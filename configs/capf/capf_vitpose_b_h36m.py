# CA-PF with ViTPose-B features (paper App. D, Table 7): levels = head deconv (stride 4, 256 ch),
# head deconv (stride 8, 256 ch), ViT tokens (stride 16, 768 ch).
_base_ = ['../extract/h36m_vitpose_b.py', '../lift/capf_base.py']
model = dict(levels=[0, 1, 2])
detector_levels = dict(strides=[4, 8, 16], channels=[256, 256, 768])
