# Demo parity study: score the raw prediction against the root-relative ground truth (the authors'
# evaluation) instead of subtracting the predicted pelvis first; the training is step3_full.py's.
_base_ = ['./step3_full.py']
eval = dict(reroot=False)
