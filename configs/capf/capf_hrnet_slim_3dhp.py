# CA-PF on the synthetic MPI-INF-3DHP with the slim HRNet (widths 16/32/64/128 at 128x96 input).
_base_ = ['../extract/3dhp_hrnet_slim.py', '../lift/capf_3dhp.py']
detector_levels = dict(input_size_wh=(96, 128), channels=[16, 32, 64, 128])
