# As capf_hrnet32_3dhp_official_annot3.py for an HRNet-48 checkpoint trained on mmpose's layout.
_base_ = ['./capf_hrnet48_3dhp_official.py']
dataset = dict(joints_3d='annot3')
