# Evaluate a CA-PF-HRNet-48 3DHP checkpoint on the official test set (see capf_hrnet32_3dhp_official.py).
_base_ = ['../extract/3dhp_hrnet_w48_official.py', '../lift/capf_3dhp.py']
detector_levels = dict(channels=[48, 96, 192, 384])
