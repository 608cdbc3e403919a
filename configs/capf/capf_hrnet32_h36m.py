# CA-PF on Human3.6M with HRNet-W32 (COCO, 256x192) features: the paper's full model (Table 1/3 step 3).
# The extract sections name the cache; the lift sections the model and training (the authors' released
# recipe, capf_base.py; the paper's text: capf_hrnet32_h36m_paper_text.py).
_base_ = ['../extract/h36m_hrnet_w32.py', '../lift/capf_base.py']
