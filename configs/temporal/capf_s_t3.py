# CA-PF-S over 3 frame(s) (paper Table 6).
_base_ = ['./capf_s_base.py']
model = dict(frames=3)
