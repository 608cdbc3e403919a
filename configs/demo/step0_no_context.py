# Demo step 0: the context-agnostic baseline (PoseFormer on the detected 2D joints only), trained
# exactly like step 3 on the same cache.
_base_ = ['./step3_full.py']
model = dict(context='none')
