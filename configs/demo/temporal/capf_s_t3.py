# Demo: CA-PF-S over 3 frame(s).
_base_ = ['./capf_s_base.py']
model = dict(frames=3)
