# CA-PF-HRNet-32 on Human3.6M trained with the paper's text (lr 6.4e-3, offsets 0.1x): the recipe
# App. B describes, not the one behind the released numbers (capf_hrnet32_h36m.py, the default).
_base_ = ['../extract/h36m_hrnet_w32.py', '../lift/capf_paper_text.py']
