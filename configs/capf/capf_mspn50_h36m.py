# CA-PF with CPN-like features (single-stage MSPN-50; paper App. D, Table 7): 4 levels x 256 channels.
_base_ = ['../extract/h36m_mspn50.py', '../lift/capf_base.py']
detector_levels = dict(channels=[256, 256, 256, 256])
