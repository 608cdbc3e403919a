# The authors' CA-PF-HRNet-48 on MPI-INF-3DHP (paper Table 2: PCK 98.2, AUC 76.3, MPJPE 31.4 mm):
# as capf_hrnet32_3dhp_authors.py with HRNet-W48 maps and C = 96.
_base_ = ['../extract/3dhp_hrnet_w48_official_train.py', '../lift/capf_3dhp_authors.py']
dataset = dict(crop='authors')
model = dict(embed_dim=96)
detector_levels = dict(channels=[48, 96, 192, 384])
