# CA-PF-S (paper App. C, Table 6) on the paper's Human3.6M store (CPN 2D, HRNet-W32 maps).
# Per frame: the pose token + one context token per level read from the store's joint_feat (no
# deformable module, no maps) -> pose-context fusion -> inter-joint transformer -> LayerNorm: one
# (L+1)*C vector per joint. Then a temporal transformer per joint (17 sequences of T tokens of
# (L+1)*C, one temporal position embedding, weights shared by the joints) -> a 1D convolution over
# the frames -> LayerNorm + Linear((L+1)*C -> 3).
# "S": C = 32 instead of CA-PF's 128, so a joint's temporal token is 5 x 32 = 160 wide. Why 32: the
# per-joint temporal stage runs 17 sequences where PoseFormer runs one of 17 x 32 = 544-wide tokens;
# a transformer layer costs ~ width^2 per token, so equal temporal cost needs 17 x w^2 = 544^2,
# w = 132, i.e. C = 26; C = 32 is the nearest width that 8 heads divide evenly (20 dims a head).
_base_ = ['../capf/capf_hrnet32_h36m_cpn2d.py']
model = dict(
    _delete_=True,
    type='ContextAwarePoseFormerS',
    context='fusion',
    frames=27,                   # T: odd; windows centred on the target, edges repeated
    levels=[0, 1, 2, 3],
    embed_dim=32,                # C ("S"); the per-joint temporal token is (L+1)*C = 160
    depth=4,
    spatial_heads=8,
    fusion_heads=8,
    temporal_depth=4,
    temporal_heads=8,
    mlp_ratio=2.0,
    drop_path_rate=0.1,
    ref_convention='mmpose',     # must match the store's joint_feat (capf cache joint-feats --convention)
)
# the authors' released optimiser setting (capf_base.py's default, pinned; no deformable offsets here).
# Mirrored batches read joint_feat_flip (the detector on the mirrored crops) where the store has
# feat_flip (`capf extract --flip`; flip_features='auto'), else swap left and right joints' features.
train = dict(lr=6.4e-4, offset_lr_mult=1.0, weight_decay=0.1, in_memory=True)
