# Evaluate a checkpoint trained on mmpose's 3DHP layout (annot3) on the official test set read as annot3:
# `capf eval` refuses to score an annot3-trained model on univ_annot3 (and the reverse).
_base_ = ['./capf_hrnet32_3dhp_official.py']
dataset = dict(joints_3d='annot3')
