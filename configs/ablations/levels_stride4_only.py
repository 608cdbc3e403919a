# Table 4: the stride-4 level only (the heatmap head's input).
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(levels=[0])
