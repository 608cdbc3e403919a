# CA-PF-HRNet-48 on MPI-INF-3DHP (paper Table 2: PCK 98.2, AUC 76.3, MPJPE 31.4 mm).
_base_ = ['../extract/3dhp_hrnet_w48.py', '../lift/capf_3dhp.py']
detector_levels = dict(channels=[48, 96, 192, 384])
