# Demo: CA-PF-S over 81 frame(s).
_base_ = ['./capf_s_base.py']
model = dict(frames=81)
