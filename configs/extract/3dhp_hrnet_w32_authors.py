# The paper's MPI-INF-3DHP setting with the backbone of the authors' 3DHP CA-PF-HRNet-32 checkpoint
# (`capf import` writes it as detector.pth): ground-truth 2D joints as the lifter's input and reference
# points, the authors' HRNet levels 1-3 (the first stage-4 module's branch outputs). Features only.
_base_ = ['./3dhp_hrnet_w32.py']
detector = dict(name='hrnet_w32_authors', config='configs/detectors/hrnet_w32_backbone_256x192.py',
                hrnet_levels='stage4_branch_outputs')
