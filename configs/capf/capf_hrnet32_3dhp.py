# CA-PF-HRNet-32 on MPI-INF-3DHP (paper Table 2: PCK 98.0, AUC 75.4, MPJPE 32.7 mm): ground-truth
# 2D input, HRNet-W32 feature maps as context; train on S1-S8, evaluate on TS1-TS6 (valid frames).
# The store's 3D ground truth is in the lifter's H36M-17 order (stages/lift/joints.py).
_base_ = ['../extract/3dhp_hrnet_w32.py', '../lift/capf_3dhp.py']
