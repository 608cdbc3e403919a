# The paper's Human3.6M setting: external 2D joints (CPN fine-tuned on H36M, VideoPose3D's
# data_2d_h36m_cpn_ft_h36m_dbb.npz, or an mmpose (N,17,3) .npy in annotation order) feed the lifter
# and serve as reference points; the COCO detector supplies only the feature maps.
_base_ = ['./h36m_hrnet_w32.py']
kp2d = dict(source='external', file='test_h36m_2d_detection.npy')  # relative to DATA_ROOT
