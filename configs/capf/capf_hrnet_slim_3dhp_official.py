# The slim-HRNet 3DHP lifter evaluated on the synthetic set's official-layout test sequences.
_base_ = ['../extract/3dhp_hrnet_slim_official.py', '../lift/capf_3dhp.py']
detector_levels = dict(input_size_wh=(96, 128), channels=[16, 32, 64, 128])
