# PoseFormer over 1 frame(s) (paper Table 6).
_base_ = ['./poseformer_base.py']
model = dict(frames=1)
