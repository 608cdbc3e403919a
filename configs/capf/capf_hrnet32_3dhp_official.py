# Evaluate a CA-PF-HRNet-32 3DHP checkpoint on the official test set (univ_annot3, the protocol's
# ground truth): `capf eval --config this --ckpt ... --data-root <mpi_inf_3dhp_test_set>`.
# Test-only: the official layout has no training frames.
_base_ = ['../extract/3dhp_hrnet_w32_official.py', '../lift/capf_3dhp.py']
