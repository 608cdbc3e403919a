# Table 4: the coarsest level only (stride 32).
_base_ = ['../capf/capf_hrnet32_h36m.py']
model = dict(levels=[3])
