# The paper's Human3.6M setting with the backbone of the authors' CA-PF-HRNet-48 checkpoint (`capf import`
# writes it as detector.pth): CPN 2D joints (VideoPose3D's file, in DATA_ROOT) as the lifter's input
# and reference points, the authors' crop (pelvis box, no padding) and the authors' HRNet levels 1-3 (the
# first stage-4 module's branch outputs: what their released lifter reads). Features only: no heatmap head.
_base_ = ['./h36m_hrnet_w32_cpn2d.py']
detector = dict(name='hrnet_w48_authors', config='configs/detectors/hrnet_w48_backbone_256x192.py',
                hrnet_levels='stage4_branch_outputs')
dataset = dict(crop='authors')
kp2d = dict(source='external', file='data_2d_h36m_cpn_ft_h36m_dbb.npz')  # relative to DATA_ROOT
