# Demo recipe study, "released": what the authors' parameter-group bug does to step3_full.py's recipe.
# Their paper says 6.4e-3 with offsets at 0.1x; their code ran 6.4e-4 on every parameter with weight
# decay 0.1. So at the demo's scale: the same base lr divided by 10, no 0.1x group, weight decay 0.1.
_base_ = ['./step3_full.py']
train = dict(lr=2e-4, offset_lr_mult=1.0, weight_decay=0.1)
