# Demo parity study: zero padding when the initial context tokens are sampled (the authors') against
# step3_full.py's border padding; nothing else changes.
_base_ = ['./step3_full.py']
model = dict(sampling_padding='zeros')
