# Demo ablation, Step 2: sampled features + the pose-context fusion transformer, no deformable layers.
_base_ = ['./step3_full.py']
model = dict(context='fusion')
