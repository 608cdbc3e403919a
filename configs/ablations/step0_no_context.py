# Step 0 (paper Table 3): PoseFormer on the 2D joints only; the maps are never read.
# Step 3 = the full model: configs/capf/capf_hrnet32_h36m.py.
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(context='none')
