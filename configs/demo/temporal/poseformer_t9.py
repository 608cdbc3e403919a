# Demo: PoseFormer over 9 frame(s).
_base_ = ['./poseformer_base.py']
model = dict(frames=9)
