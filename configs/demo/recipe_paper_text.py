# Demo recipe study, "paper text": step3_full.py as it is (its base lr with the sampling offsets at
# 0.1x, the shape of the paper's 6.4e-3 / 0.1x at the demo's scale).
_base_ = ['./step3_full.py']
