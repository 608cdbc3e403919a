# CA-PF with HRNet-W48 features (paper Table 5): channels 48/96/192/384.
_base_ = ['../extract/h36m_hrnet_w48.py', '../lift/capf_base.py']
detector_levels = dict(channels=[48, 96, 192, 384])
