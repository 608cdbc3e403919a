# Step 1 (paper Table 3): features sampled at the joints, projected and concatenated.
# Step 3 = the full model: configs/capf/capf_hrnet32_h36m.py.
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(context='concat')
