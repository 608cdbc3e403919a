# Demo: PoseFormer over 27 frame(s).
_base_ = ['./poseformer_base.py']
model = dict(frames=27)
