# Demo: PoseFormer over 81 frame(s).
_base_ = ['./poseformer_base.py']
model = dict(frames=81)
