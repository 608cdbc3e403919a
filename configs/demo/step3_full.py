# Demo step 3 (full CA-PF) at reduced width for CPU: the same architecture as the paper's
# (deformable context extraction -> pose-context fusion -> inter-joint transformer), C=32, 2 layers
# per module, so training on 2,400 synthetic frames takes minutes on 2 cores.
_base_ = ['./synth_extract.py', '../lift/capf_base.py']
detector_levels = dict(input_size_wh=(96, 128), channels=[16, 32, 64, 128])
model = dict(embed_dim=32, depth=2, spatial_heads=4, fusion_heads=4, drop_path_rate=0.1)
train = dict(batch_size=128, epochs=20, lr=2e-3, offset_lr_mult=0.1, weight_decay=0.05, lr_decay=0.96,
             workers=0, in_memory=True, log_interval=10, keep_ckpts=1)
eval = dict(batch_size=256)
