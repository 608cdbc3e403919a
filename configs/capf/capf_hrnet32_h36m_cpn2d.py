# The paper's Human3.6M numbers: external CPN 2D joints as input and reference points,
# HRNet-W32 features (extract config h36m_hrnet_w32_cpn2d).
_base_ = ['../extract/h36m_hrnet_w32_cpn2d.py', '../lift/capf_base.py']
