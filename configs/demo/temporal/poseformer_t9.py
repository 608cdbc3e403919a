# Demo: PoseFormer over 9 frame(s) (CA-PF-S with the context off).
_base_ = ['./capf_s_base.py']
model = dict(context='none', frames=9)
