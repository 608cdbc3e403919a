# CA-PF-S over 9 frame(s) (paper Table 6).
_base_ = ['./capf_s_base.py']
model = dict(frames=9)
