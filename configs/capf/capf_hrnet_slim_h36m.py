# CA-PF on the slim HRNet of the synthetic closed loop (widths 16/32/64/128 at 128x96 input).
_base_ = ['../extract/h36m_hrnet_slim.py', '../lift/capf_base.py']
detector_levels = dict(input_size_wh=(96, 128), channels=[16, 32, 64, 128])
