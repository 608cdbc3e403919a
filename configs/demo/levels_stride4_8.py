# Demo ablation, Table 4: strides 4 and 8.
_base_ = ['./step3_full.py']
model = dict(levels=[0, 1])
