# Demo: PoseFormer over 1 frame(s).
_base_ = ['./poseformer_base.py']
model = dict(frames=1)
