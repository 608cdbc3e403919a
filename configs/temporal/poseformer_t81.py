# PoseFormer over 81 frame(s) (paper Table 6).
_base_ = ['./poseformer_base.py']
model = dict(frames=81)
