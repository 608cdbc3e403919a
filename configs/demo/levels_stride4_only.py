# Demo ablation, Table 4: the stride-4 level only.
_base_ = ['./step3_full.py']
model = dict(levels=[0])
