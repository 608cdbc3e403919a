# Demo parity study: LayerNorm eps 1e-5 in the deformable layers (the authors') against 1e-6.
_base_ = ['./step3_full.py']
model = dict(deformable_norm_eps=1e-5)
