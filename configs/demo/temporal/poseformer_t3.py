# Demo: PoseFormer over 3 frame(s).
_base_ = ['./poseformer_base.py']
model = dict(frames=3)
