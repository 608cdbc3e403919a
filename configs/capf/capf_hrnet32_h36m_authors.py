# Checkpoint-level parity with the authors' released CA-PF-HRNet-32 (ContextAware-PoseFormer): every
# choice where CAPF departs from their code set to theirs at once. CPN 2D input as in their numbers;
# their crop (a new store: the boxes are part of its key); their reference convention, zero padding
# of the initial samples and LayerNorm eps in the deformable layers; their evaluation without
# re-rooting; fp32 throughout; the released optimiser (capf_base.py's default, pinned).
# README "Parity options" lists each one.
_base_ = ['./capf_hrnet32_h36m_cpn2d.py']
dataset = dict(crop='authors')
model = dict(ref_convention='authors', sampling_padding='zeros', deformable_norm_eps=1e-5)
train = dict(lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, amp=False)
eval = dict(reroot=False)
detector = dict(hrnet_levels='stage4_branch_outputs')  # their HRNet levels 1-3 (a new store: part of its key)
