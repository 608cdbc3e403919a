# Step 2 (paper Table 3): + Pose-Context Feature Fusion (no deformable sampling).
# Step 3 = the full model: configs/capf/capf_hrnet32_h36m.py.
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(context='fusion')
