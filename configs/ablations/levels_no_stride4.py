# Table 4: all levels but the stride-4 one (strides 8/16/32).
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(levels=[1, 2, 3])
