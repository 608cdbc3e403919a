# Demo parity study: the authors' crop (a 2 m square around the ground-truth pelvis, no 1.25 padding)
# against the synthetic annotation's box. The boxes are part of the store's key, so this config needs
# its own store: `capf extract --config configs/demo/parity_crop.py` (its extract sections are
# synth_extract.py's with dataset.crop='authors'); the lifter is step3_full.py's.
_base_ = ['./step3_full.py']
dataset = dict(crop='authors')
