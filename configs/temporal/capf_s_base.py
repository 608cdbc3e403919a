# Temporal CA-PF-S (paper App. C, Table 6) on the paper's Human3.6M store (CPN 2D, HRNet-W32 maps):
# per frame, the pose token + one context token per level read from the store's joint_feat
# (no deformable module, no maps) -> pose-context fusion -> inter-joint transformer; then
# PoseFormer's temporal transformer over T frames -> 1D convolution over frames -> linear head
# (the centre frame). Every T and both models reuse one store; only `model` differs.
_base_ = ['../capf/capf_hrnet32_h36m_cpn2d.py']
model = dict(
    _delete_=True,
    type='TemporalPoseFormer',
    context='fusion',            # CA-PF-S; 'none' = the PoseFormer baseline (poseformer_t*.py)
    frames=27,                   # T: odd; windows centred on the target, edges repeated
    levels=[0, 1, 2, 3],
    embed_dim=128,
    depth=4,
    spatial_heads=8,
    fusion_heads=8,
    temporal_joint_dim=32,       # per-joint width of the frame token (PoseFormer's 32: 17 x 32 = 544)
    temporal_depth=4,
    temporal_heads=8,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
    ref_convention='mmpose',     # must match the store's joint_feat (capf cache joint-feats --convention)
)
# the authors' released optimiser setting (capf_base.py's default, pinned; no deformable offsets here)
train = dict(lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, in_memory=True)
