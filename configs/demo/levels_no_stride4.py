# Demo ablation, Table 4: without the stride-4 level.
_base_ = ['./step3_full.py']
model = dict(levels=[1, 2, 3])
