# The authors' CA-PF-HRNet-32 on MPI-INF-3DHP (paper Table 2: PCK 98.0, AUC 75.4, MPJPE 32.7 mm):
# their model (fusion only, C = 64: 3,462,979 parameters, as their checkpoint) and recipe
# (configs/lift/capf_3dhp_authors.py) on the official training + test sets, univ_annot3 on both
# sides, ground-truth 2D, their 2 m crop at the pelvis.
_base_ = ['../extract/3dhp_hrnet_w32_official_train.py', '../lift/capf_3dhp_authors.py']
dataset = dict(crop='authors')
