# PoseFormer over 9 frame(s) (paper Table 6): CA-PF-S with the context off, 2D joints only.
_base_ = ['./capf_s_base.py']
model = dict(context='none', frames=9)
