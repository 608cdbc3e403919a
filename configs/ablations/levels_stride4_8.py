# Table 4: the two finest levels (strides 4 and 8).
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(levels=[0, 1])
