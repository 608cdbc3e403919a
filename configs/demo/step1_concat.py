# Demo ablation, Step 1 (paper Table 3): features sampled at the joints, projected, concatenated with the pose token.
_base_ = ['./step3_full.py']
model = dict(context='concat')
