# Demo parity study: the authors' reference points (x / (W_in / 2) - 1 on every level) against
# step3_full.py's mmpose convention (u = x / s_l); nothing else changes.
_base_ = ['./step3_full.py']
model = dict(ref_convention='authors')
